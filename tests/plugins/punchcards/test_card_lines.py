"""Punch cards on the member's card in the customer app (the `card_lines` hook): every
10 coffees a toast. Ana bought 17 coffees: one full card (her toast waits at the till)
and 7 stamps of the next."""

from __future__ import annotations

import html
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.host.actors import Actor
from core.loyalty.members import Membership
from core.loyalty.purchases import Item, record_purchase
from core.testing.weblogin import sign_in_customer
from plugins.punchcards import cards
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


def card_lines(client, app, member):
    sign_in_customer(client, app, member)
    answer = client.get("/t/cafe/app/")
    assert answer.status_code == 200
    text = html.unescape(answer.get_data(as_text=True))
    return text[text.find('<dl class="card-lines">') : text.find("</dl>")]


def test_the_card_shows_the_stamps_and_the_prize_waiting(client, app, db, shop, make_member):
    ana = make_member(shop)
    buy_coffees(db, shop, ana, 17)
    lines = card_lines(client, app, ana)
    assert "<dt>Café</dt><dd>7 de 10 sellos</dd>" in lines
    assert "<dt>Tu premio te espera</dt><dd>Una tostada</dd>" in lines


def test_a_prize_handed_over_leaves_the_card(client, app, db, shop, make_member):
    ana = make_member(shop)
    buy_coffees(db, shop, ana, 10)
    with db(shop) as session:
        prize = session.scalar(select(Prize))
        cards.claim_prize(session, prize, actor=Actor.staff(None))
        session.commit()
    lines = card_lines(client, app, ana)
    assert "<dt>Café</dt><dd>0 de 10 sellos</dd>" in lines
    assert "premio" not in lines


def test_another_members_stamps_never_show(client, app, db, shop, make_member):
    ana, eva = make_member(shop), make_member(shop)
    buy_coffees(db, shop, eva, 13)
    assert "<dd>0 de 10 sellos</dd>" in card_lines(client, app, ana)
