"""The tier on the member's card in the customer app (the `card_lines` hook): Plata ×1
from 0, Oro ×1.2 from 500.000 COP spent in the month, worded for the customer."""

from __future__ import annotations

import html

import pytest

from core.host.actors import Actor
from core.loyalty.members import Customer, Membership
from core.loyalty.program import update_program
from core.loyalty.purchases import record_purchase
from core.testing.weblogin import sign_in_customer

PLATA = {"code": "plata", "name": "Plata", "multiplier": "1", "threshold": "0"}
ORO = {"code": "oro", "name": "Oro", "multiplier": "1.2", "threshold": "500000"}


@pytest.fixture
def shop(make_tenant, make_plan, db, platform):
    make_plan("rules", {"tiers"})
    tenant = make_tenant(slug="tienda", plan="rules")
    with db(tenant) as session:
        update_program(session, {"points_per_amount": {"amount": "1000", "points": 1}})
        platform.plugins.save_settings(session, "tiers", {"tiers": [PLATA, ORO]})
        session.commit()
    return tenant


def card_lines(client, app, shop, member):
    sign_in_customer(client, app, member)
    answer = client.get(f"/t/{shop.slug}/app/")
    assert answer.status_code == 200
    text = html.unescape(answer.get_data(as_text=True)).replace("\xa0", " ")
    return text[text.find('<dl class="card-lines">') : text.find("</dl>")]


def spend(db, shop, member, amount):
    with db(shop) as session:
        record_purchase(
            session,
            session.get(Membership, member.id),
            amount,
            actor=Actor.system(),
        )
        session.commit()


def test_the_card_shows_the_tier_and_what_is_left_to_spend_for_the_next(
    client, app, shop, make_member, db
):
    ana = make_member(shop)
    spend(db, shop, ana, "120000")
    lines = card_lines(client, app, shop, ana)
    assert "<dt>Tu nivel</dt><dd>Plata</dd>" in lines
    assert "<dt>Te falta comprar para llegar a Oro</dt><dd>$380.000</dd>" in lines


def test_at_the_top_tier_nothing_is_left_to_reach(client, app, shop, make_member, db):
    ana = make_member(shop)
    spend(db, shop, ana, "500000")
    lines = card_lines(client, app, shop, ana)
    assert "<dt>Tu nivel</dt><dd>Oro</dd>" in lines
    assert "llegar" not in lines


def test_no_tiers_defined_nothing_on_the_card(client, app, shop, make_member, db, platform):
    with db(shop) as session:
        platform.plugins.save_settings(session, "tiers", {"tiers": []})
        session.commit()
    assert card_lines(client, app, shop, make_member(shop)) == ""


def test_in_english_for_an_english_speaker(client, app, shop, make_member, db, platform):
    ana = make_member(shop)
    with platform.sessions() as session:
        session.get(Customer, ana.customer_id).language = "en"
        session.commit()
    spend(db, shop, ana, "120000")
    lines = card_lines(client, app, shop, ana)
    assert "<dt>Your tier</dt><dd>Plata</dd>" in lines and "Spend to reach Oro" in lines
