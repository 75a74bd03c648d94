"""Actividad: every movement with who, where and when, filtered by the merchant's
local dates, employee, location and kind; employees see only their own."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from core.host.actors import Actor
from core.host.db import clock_at
from core.loyalty import ledger
from core.loyalty.locations import create_location
from core.loyalty.members import Customer, Membership
from core.loyalty.staff import Role, StaffUser, create_staff
from core.testing.factories import PASSWORD
from tests.core.panel.test_customers import count_statements, log_in

URL = "/t/{slug}/panel/activity/"


def rows(page: str) -> list[list[str]]:
    """Each movement row's cells as text: date, customer, movement, points, by, location."""
    found = []
    for row in re.findall(r'<tr data-entry="\d+">(.*?)</tr>', page, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        found.append([" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in cells])
    return found


def summary(page: str) -> list[tuple[str, str, str, str]]:
    """(movement, points, by, location) of each row."""
    return [(r[2], r[3], r[4], r[5]) for r in rows(page)]


@pytest.fixture
def history(make_tenant, make_member, db):
    """Two employees at two locations, an API sale, around local midnight of 1 March
    in Bogotá (UTC-5)."""
    shop = make_tenant()
    with db(shop) as session:
        centro = create_location(session, name="Sede Centro").id
        norte = create_location(session, name="Sede Norte").id
        lucia = create_staff(
            session,
            email="lucia@shop.example",
            name="Lucía",
            password=PASSWORD,
            role=Role.EMPLOYEE,
            location_id=centro,
        ).id
        pedro = create_staff(
            session,
            email="pedro@shop.example",
            name="Pedro",
            password=PASSWORD,
            role=Role.EMPLOYEE,
            location_id=norte,
        ).id
        session.commit()
    ana = make_member(shop, first_name="Ana", last_name="Núñez")
    bea = make_member(shop, first_name="Bea", last_name="Ríos")

    def at(moment, member, points, actor, location=None):
        with clock_at(moment), db(shop) as session:
            m = session.get(Membership, member.id)
            if points > 0:
                ledger.earn(session, m, points=points, actor=actor, location_id=location)
            else:
                ledger.redeem(session, m, -points, actor=actor, location_id=location)
            session.commit()

    at(datetime(2026, 3, 1, 4, 30, tzinfo=UTC), ana, 10, Actor.staff(lucia), centro)  # 28 Feb
    at(datetime(2026, 3, 1, 5, 30, tzinfo=UTC), bea, 20, Actor.staff(pedro), norte)  # 1 Mar
    at(datetime(2026, 3, 2, 15, 0, tzinfo=UTC), ana, -5, Actor.staff(lucia), centro)
    at(datetime(2026, 3, 3, 15, 0, tzinfo=UTC), bea, 7, Actor("token", 1))
    return {"shop": shop, "centro": centro, "norte": norte, "lucia": lucia, "pedro": pedro}


def test_everything_newest_first_with_who_and_where(client, db, history):
    shop = history["shop"]
    log_in(client, db, shop)
    page = client.get(URL.format(slug=shop.slug)).get_data(as_text=True)
    assert summary(page) == [
        ("Puntos acumulados", "7", "API", ""),
        ("Canje", "-5", "Lucía", "Sede Centro"),
        ("Puntos acumulados", "20", "Pedro", "Sede Norte"),
        ("Puntos acumulados", "10", "Lucía", "Sede Centro"),
    ]
    # Times in the merchant's zone: 04:30 UTC on 1 March is 23:30 on 28 February.
    assert rows(page)[3][0].startswith("28/2/26") and "23:30" in rows(page)[3][0]
    assert rows(page)[3][1].startswith("Ana Núñez")


@pytest.mark.parametrize(
    "query, expected",
    [
        ("start=2026-03-01", [("7", "API"), ("-5", "Lucía"), ("20", "Pedro")]),
        ("end=2026-02-28", [("10", "Lucía")]),
        ("start=2026-03-01&end=2026-03-01", [("20", "Pedro")]),
        ("staff={lucia}", [("-5", "Lucía"), ("10", "Lucía")]),
        ("location={norte}", [("20", "Pedro")]),
        ("kind=redeem", [("-5", "Lucía")]),
        ("kind=earn&staff={lucia}", [("10", "Lucía")]),
        ("kind=earn&location={centro}&start=2026-03-01", []),
    ],
)
def test_filters(client, db, history, query, expected):
    shop = history["shop"]
    log_in(client, db, shop)
    page = client.get(URL.format(slug=shop.slug) + "?" + query.format(**history))
    assert [(r[1], r[2]) for r in summary(page.get_data(as_text=True))] == expected


def test_a_reversed_range_says_so_and_narrows_nothing(client, db, history):
    shop = history["shop"]
    log_in(client, db, shop)
    page = client.get(URL.format(slug=shop.slug) + "?start=2026-03-02&end=2026-03-01")
    text = page.get_data(as_text=True)
    assert "La fecha final es anterior a la inicial." in text
    assert len(rows(text)) == 2  # from 2 March on; the bad end is ignored


def test_an_employee_sees_only_their_own(client, db, history):
    shop = history["shop"]
    log_in(client, db, shop, email="lucia@shop.example")
    url = URL.format(slug=shop.slug)
    page = client.get(url).get_data(as_text=True)
    assert [(r[1], r[2]) for r in summary(page)] == [("-5", "Lucía"), ("10", "Lucía")]
    assert 'name="staff"' not in page
    forced = client.get(url + f"?staff={history['pedro']}").get_data(as_text=True)
    assert [(r[1], r[2]) for r in summary(forced)] == [("-5", "Lucía"), ("10", "Lucía")]


def test_another_tenants_ids_show_nothing_of_theirs(client, db, history, make_tenant, make_member):
    other = make_tenant()
    with db(other) as session:
        place = create_location(session, name="Ajena").id
        them = session.scalar(select(StaffUser.id).where(StaffUser.role == Role.OWNER))
        session.commit()
    stranger = make_member(other, first_name="Extraña")
    with db(other) as session:
        ledger.earn(
            session,
            session.get(Membership, stranger.id),
            points=99,
            actor=Actor.staff(them),
            location_id=place,
        )
        session.commit()
    shop = history["shop"]
    log_in(client, db, shop)
    url = URL.format(slug=shop.slug)
    for query in (f"?staff={them}", f"?location={place}", "?staff=abc&location=-1"):
        page = client.get(url + query)
        assert page.status_code == 200
        assert "Extraña" not in page.get_data(as_text=True)
        assert "99" not in [r[3] for r in rows(page.get_data(as_text=True))]
    page = client.get(url + "?staff=abc&location=-1").get_data(as_text=True)
    assert len(rows(page)) == 4  # unreadable ids filter nothing


def test_pages_of_50(client, db, make_tenant, make_member):
    shop = make_tenant()
    member = make_member(shop)
    with db(shop) as session:
        m = session.get(Membership, member.id)
        for i in range(55):
            ledger.earn(session, m, points=i + 1, actor=Actor.system())
        session.commit()
    log_in(client, db, shop)
    url = URL.format(slug=shop.slug)
    first = client.get(url + "?kind=earn").get_data(as_text=True)
    assert [r[3] for r in rows(first)] == [str(n) for n in range(55, 5, -1)]
    (following,) = re.findall(r'<a rel="next" href="([^"]+)"', first)
    second = client.get(following.replace("&amp;", "&")).get_data(as_text=True)
    assert [r[3] for r in rows(second)] == ["5", "4", "3", "2", "1"]
    assert 'rel="next"' not in second


def test_menu_shows_clientes_and_actividad(client, db, make_tenant):
    shop = make_tenant()
    log_in(client, db, shop)
    page = client.get(f"/t/{shop.slug}/panel/").get_data(as_text=True)
    menu = re.search(r'<nav class="menu".*?</nav>', page, re.S).group(0)
    assert "Clientes" in menu and "Actividad" in menu
    assert menu.index("Clientes") < menu.index("Actividad")


def test_the_page_runs_as_many_statements_for_5_rows_as_for_50(client, db, platform, make_tenant):
    counts = []
    for n in (5, 50):
        shop = make_tenant()
        with db(shop) as session:
            for i in range(n):
                place = create_location(session, name=f"Local {i}")
                who = create_staff(
                    session, email=f"e{i}@x.example", name=f"E{i}", password=PASSWORD
                )
                member = Membership(
                    customer=Customer(email=f"m{i}@{shop.slug}.example"),
                    code=f"M{i:05d}",
                    search_text="",
                )
                session.add(member)
                session.flush()
                ledger.earn(
                    session, member, points=1, actor=Actor.staff(who.id), location_id=place.id
                )
            session.commit()
        with client.session_transaction() as cookie:
            cookie.clear()
        log_in(client, db, shop)
        url = URL.format(slug=shop.slug)
        assert len(rows(client.get(url).get_data(as_text=True))) == n
        counts.append(count_statements(platform, lambda u=url: client.get(u)))
    assert counts[0] == counts[1]
