"""Punch cards in the panel, at a café: every 10 coffees a toast. Ana bought 17 coffees
(one full card and "7 de 10"); Caja 1, an employee, hands her toast over."""

from __future__ import annotations

import html
import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.host.actors import Actor
from core.loyalty.members import Membership
from core.loyalty.purchases import Item, record_purchase
from core.loyalty.staff import Role
from core.testing.weblogin import flashes, login
from plugins.punchcards.models import Prize

COFFEE = {
    "key": "cafe",
    "name": "Café",
    "product_group": "cafe",
    "size": 10,
    "prize": "Una tostada",
}


@pytest.fixture
def shop(make_plan, make_tenant, db, platform):
    make_plan("cards", {"punchcards"})
    tenant = make_tenant(slug="cafe", plan="cards")
    with db(tenant) as session:
        platform.plugins.save_settings(session, "punchcards", {"cards": [COFFEE]})
        session.commit()
    return tenant


def buy_coffees(db, tenant, member, n):
    with db(tenant) as session:
        record_purchase(
            session,
            session.get(Membership, member.id),
            Decimal(4500 * n),
            actor=Actor.system(),
            items=[Item(quantity=n, unit_price=Decimal(4500), product_group="cafe")],
        )
        session.commit()


@pytest.fixture
def ana(shop, make_member, db):
    member = make_member(shop, first_name="Ana", last_name="Núñez")
    buy_coffees(db, shop, member, 17)
    return member


def read(client, url):
    answer = client.get(url)
    assert answer.status_code == 200, answer.status_code
    return html.unescape(answer.get_data(as_text=True))


def prizes(db, tenant):
    with db(tenant) as session:
        return [(p.name, p.status) for p in session.scalars(select(Prize).order_by(Prize.id))]


def test_the_cashiers_page_shows_progress_and_links_to_the_cards(client, db, shop, ana):
    login(client, db, shop, Role.EMPLOYEE)
    text = read(client, f"/t/cafe/panel/loyalty/{ana.code}")
    assert "<dt>Café</dt><dd>7 de 10</dd>" in text
    assert "<dt>Premios por entregar</dt><dd>1</dd>" in text
    assert re.search(
        f'href="/t/cafe/panel/punchcards/{ana.code}"[^>]*>Tarjetas de sellos</a>', text
    )


def test_an_employee_hands_a_prize_over_once_however_often_it_is_tapped(client, db, shop, ana):
    login(client, db, shop, Role.EMPLOYEE)
    url = f"/t/cafe/panel/punchcards/{ana.code}"
    text = read(client, url)
    assert re.search(r"<strong>Café</strong></span>\s*<span data-progress>7 de 10</span>", text)
    (prize_id,) = re.findall(r'data-prize="(\d+)"', text)
    claim = f"{url}/prizes/{prize_id}/claim"
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]*)"', text).group(1)
    assert client.post(claim, data={"csrf_token": token}).status_code == 302
    assert flashes(read(client, url)) == [("success", "Premio entregado a Ana Núñez: Una tostada.")]
    assert client.post(claim, data={"csrf_token": token}).status_code == 302
    again = read(client, url)
    assert flashes(again) == [("info", "Este premio ya se había entregado: Una tostada.")]
    assert prizes(db, shop) == [("Una tostada", "claimed")]
    assert "No hay premios por entregar." in again and 'data-prize="' not in again


def test_three_more_coffees_complete_the_card_and_start_the_next(client, db, shop, ana):
    buy_coffees(db, shop, ana, 5)
    login(client, db, shop)
    text = read(client, f"/t/cafe/panel/punchcards/{ana.code}")
    assert "<span data-progress>2 de 10</span>" in text
    assert len(re.findall(r'data-prize="\d+"', text)) == 2


def test_a_claim_without_csrf_changes_nothing(client, db, shop, ana):
    login(client, db, shop)
    (prize_id,) = re.findall(
        r'data-prize="(\d+)"', read(client, f"/t/cafe/panel/punchcards/{ana.code}")
    )
    answer = client.post(f"/t/cafe/panel/punchcards/{ana.code}/prizes/{prize_id}/claim")
    assert answer.status_code == 400
    assert prizes(db, shop) == [("Una tostada", "issued")]


def test_other_tenants_members_and_prizes_and_tenants_without_cards_answer_404(
    client, db, shop, ana, make_tenant, make_member, platform
):
    other = make_tenant(slug="otro", plan="cards")
    with db(other) as session:
        platform.plugins.save_settings(session, "punchcards", {"cards": [COFFEE]})
        session.commit()
    stranger = make_member(other)
    buy_coffees(db, other, stranger, 10)
    with db(other) as session:
        theirs = session.scalars(select(Prize.id)).one()
    login(client, db, shop)
    url = f"/t/cafe/panel/punchcards/{ana.code}"
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]*)"', read(client, url)).group(
        1
    )
    assert client.get(f"/t/cafe/panel/punchcards/{stranger.code}").status_code == 404
    assert (
        client.post(f"{url}/prizes/{theirs}/claim", data={"csrf_token": token}).status_code == 404
    )
    assert prizes(db, other) == [("Una tostada", "issued")]

    bare = make_tenant(slug="bare")  # the free plan: no punch cards
    member = make_member(bare)
    login(client, db, bare)
    assert client.get(f"/t/bare/panel/punchcards/{member.code}").status_code == 404
    assert "/panel/punchcards/" not in read(client, f"/t/bare/panel/loyalty/{member.code}")
