"""The tier beside the balance in Fidelización (the `member_summary` hook): Plata ×1
from 0, Oro ×1.2 from 500.000 COP spent in the month."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import select

from core.host.actors import Actor
from core.loyalty.members import Membership
from core.loyalty.program import update_program
from core.loyalty.purchases import record_purchase
from core.loyalty.staff import StaffUser
from core.testing.factories import PASSWORD
from core.testing.weblogin import post_login

PLATA = {"code": "plata", "name": "Plata", "multiplier": "1", "threshold": "0"}
ORO = {"code": "oro", "name": "Oro", "multiplier": "1.2", "threshold": "500000"}


@pytest.fixture
def shop(make_tenant, make_plan, db, platform):
    make_plan("rules", {"tiers"})
    tenant = make_tenant(slug="tienda", plan="rules")
    with db(tenant) as session:
        update_program(session, {"points_per_amount": {"amount": "1000", "points": 1}})
        platform.plugins.save_settings(session, "tiers", {"tiers": [PLATA, ORO]})
        owner = session.scalar(select(StaffUser.email).where(StaffUser.role == "owner"))
        session.commit()
    tenant.owner_email = owner
    return tenant


def summary(client, shop, member):
    assert post_login(client, shop.slug, shop.owner_email, PASSWORD).status_code == 302
    answer = client.get(f"/t/{shop.slug}/panel/loyalty/{member.code}")
    assert answer.status_code == 200
    text = html.unescape(answer.get_data(as_text=True))
    return text[text.find('<dl class="loyalty-summary">') : text.find("</dl>")]


def spend(db, shop, member, amount):
    with db(shop) as session:
        record_purchase(session, session.get(Membership, member.id), amount, actor=Actor.system())
        session.commit()


def test_member_summary_shows_the_tier_and_what_the_next_one_needs(client, shop, make_member, db):
    ana = make_member(shop)
    spend(db, shop, ana, "120000")
    lines = summary(client, shop, ana)
    assert "<dt>Nivel</dt><dd>Plata</dd>" in lines
    assert "<dt>Para llegar a Oro</dt><dd>$380.000</dd>" in lines


def test_member_summary_at_the_top_tier_has_no_next_line(client, shop, make_member, db):
    ana = make_member(shop)
    spend(db, shop, ana, "500000")
    lines = summary(client, shop, ana)
    assert "<dt>Nivel</dt><dd>Oro</dd>" in lines
    assert "Para llegar" not in lines


def test_no_tiers_defined_no_summary(client, shop, make_member, db, platform):
    with db(shop) as session:
        platform.plugins.save_settings(session, "tiers", {"tiers": []})
        session.commit()
    assert summary(client, shop, make_member(shop)) == ""
