"""A member's history in the app: newest first, translated labels, the location, the
merchant's local time, keyset pages, never the merchant's internal description, never
anyone else's entries, and a number of statements that does not grow with them."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from core.host.actors import Actor
from core.host.db import clock_at
from core.loyalty import ledger
from core.loyalty.locations import create_location
from core.loyalty.members import Customer, Membership
from core.loyalty.program import update_program
from core.loyalty.rewards import create_reward, request_reward
from core.testing.weblogin import sign_in_customer

STAFF = Actor.staff(None)
SECRET = "nota interna: cliente conflictivo"


@pytest.fixture
def cafe(make_tenant):
    return make_tenant(slug="cafe", name="Café Central")  # Bogotá, Spanish


def read(client, url):
    answer = client.get(url)
    assert answer.status_code == 200, answer.status_code
    return html.unescape(answer.get_data(as_text=True)).replace("\xa0", " ")


def entries(page):
    """(entry id, text) of each history row, in the page's order."""
    return [
        (int(entry_id), re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).strip())
        for entry_id, body in re.findall(r'<li data-entry="(\d+)">(.*?)</li>', page, re.S)
    ]


def earn_many(db, tenant, member, count):
    """`count` earns of 1..count points, a minute apart; returns their ids, oldest first."""
    start = datetime(2026, 11, 1, 15, tzinfo=UTC)
    ids = []
    with db(tenant) as session:
        target = session.get(Membership, member.id)
        for n in range(1, count + 1):
            with clock_at(start + timedelta(minutes=n)):
                ids.append(ledger.earn(session, target, points=n, actor=STAFF).id)
        session.commit()
    return ids


def test_entries_newest_first_with_labels_location_and_local_time_never_the_description(
    client, app, db, cafe, make_member
):
    ana = make_member(cafe, "ana@mail.example")
    with db(cafe) as session:
        centro = create_location(session, name="Sede Centro")
        member = session.get(Membership, ana.id)
        # 1 December, 22:30 in Bogotá: already the 2nd in UTC.
        with clock_at(datetime(2026, 12, 2, 3, 30, tzinfo=UTC)):
            earned = ledger.earn(
                session, member, points=120, actor=STAFF, location_id=centro.id, description=SECRET
            )
        with clock_at(datetime(2026, 12, 3, 15, tzinfo=UTC)):
            adjusted = ledger.adjust(session, member, -20, actor=STAFF, description=SECRET)
        with clock_at(datetime(2026, 12, 4, 15, tzinfo=UTC)):
            update_program(session, {"customer_redemption_requests": True})
            reward = create_reward(session, name="Café gratis", points=50)
            session.flush()
            requested = request_reward(session, member, reward)
        session.commit()
    sign_in_customer(client, app, ana)

    page = read(client, "/t/cafe/app/history")

    rows = entries(page)
    assert [entry_id for entry_id, _text in rows] == [requested.entry_id, adjusted.id, earned.id]
    pending, adjustment, earn = (text for _id, text in rows)
    assert "Canje solicitado (pendiente)" in pending and "Café gratis" in pending
    assert pending.endswith("−50")
    assert adjustment.startswith("Ajuste") and adjustment.endswith("−20")
    assert earn.startswith("Puntos acumulados") and earn.endswith("+120")
    assert "Sede Centro" in earn and "1 dic 2026" in earn and "22:30" in earn
    assert SECRET not in page


def test_the_history_speaks_the_persons_language(client, app, db, cafe, make_member, platform):
    ana = make_member(cafe, "ana@mail.example")
    earn_many(db, cafe, ana, 1)
    with platform.sessions() as session:
        session.get(Customer, ana.customer_id).language = "en"
        session.commit()
    sign_in_customer(client, app, ana)
    (row,) = entries(read(client, "/t/cafe/app/history"))
    assert row[1].startswith("Points earned") and "Nov 1, 2026" in row[1]


def test_pages_of_twenty_follow_each_other_to_the_first_entry(client, app, db, cafe, make_member):
    ana = make_member(cafe, "ana@mail.example")
    ids = earn_many(db, cafe, ana, 45)
    sign_in_customer(client, app, ana)

    seen, url, pages = [], "/t/cafe/app/history", 0
    while url:
        page = read(client, url)
        seen.extend(entry_id for entry_id, _text in entries(page))
        found = re.search(r'rel="next" href="([^"]+)"', page)
        url, pages = (found.group(1) if found else None), pages + 1
    assert pages == 3
    assert seen == ids[::-1]


def test_another_persons_entries_never_show_whatever_the_cursor(
    client, app, db, cafe, make_tenant, make_member
):
    ana, eva = make_member(cafe, "ana@mail.example"), make_member(cafe, "eva@mail.example")
    mine = earn_many(db, cafe, ana, 2)
    theirs = earn_many(db, cafe, eva, 3)
    bar = make_tenant(slug="bar")
    elsewhere = earn_many(db, bar, make_member(bar, "ana@mail.example"), 1)
    sign_in_customer(client, app, ana)

    for url in ("/t/cafe/app/history", f"/t/cafe/app/history?before={max(theirs) + 1}"):
        assert [i for i, _text in entries(read(client, url))] == mine[::-1]
    assert [i for i, _ in entries(read(client, "/t/bar/app/history"))] == elsewhere
    assert entries(read(client, "/t/cafe/app/history?before=abc")) == entries(
        read(client, "/t/cafe/app/history")
    )


def test_not_a_member_here_and_visitors(client, app, cafe, make_tenant, make_member):
    make_tenant(slug="bar")
    sign_in_customer(client, app, make_member(cafe, "ana@mail.example"))
    page = read(client, "/t/bar/app/history")
    assert "Aún no eres cliente de Shop" in page and entries(page) == []
    client.delete_cookie("member_session")
    answer = client.get("/t/cafe/app/history")
    assert answer.status_code == 302 and "/t/cafe/app/login" in answer.headers["Location"]


def count_statements(platform, client, url):
    seen = []

    def before(_conn, _cursor, statement, *_args):
        seen.append(statement)

    client.get(url)  # warm: the session's first use of the day, the process's caches
    event.listen(platform.engine, "before_cursor_execute", before)
    try:
        answer = client.get(url)
    finally:
        event.remove(platform.engine, "before_cursor_execute", before)
    assert answer.status_code == 200
    return len(seen)


def test_a_page_costs_as_many_statements_for_5_entries_as_for_200(
    client, app, db, platform, make_tenant, make_member
):
    few, many = make_tenant(slug="few"), make_tenant(slug="many")
    ana = make_member(few, "ana@mail.example")
    earn_many(db, few, ana, 5)
    earn_many(db, many, make_member(many, "ana@mail.example"), 200)
    sign_in_customer(client, app, ana)

    small = count_statements(platform, client, "/t/few/app/history")
    large = count_statements(platform, client, "/t/many/app/history")
    assert small == large
    # About 8 on PostgreSQL: the session, the tenant, its plugins, the member, the page,
    # and the plugins' menu entries (nps asks for an open survey); SQLite adds BEGINs.
    assert large <= 12
