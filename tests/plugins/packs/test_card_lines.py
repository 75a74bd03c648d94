"""Packs on the member's card in the customer app (the `card_lines` hook), at a spa in
Bogotá: each usable pack with its uses left and its last day in the spa's time zone."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

import pytest

from core.host.actors import Actor
from core.host.db import clock_at
from core.loyalty.members import Membership
from core.testing.weblogin import sign_in_customer
from plugins.packs import packs

MASSAGE = {
    "key": "masaje-5",
    "name": "Bono de 5 sesiones de masaje",
    "uses": 5,
    "price": "150000",
    "validity_days": 90,
}
DRINKS = {"key": "copas-3", "name": "Bono de 3 copas", "uses": 3, "price": "45000"}
SOLD_AT = datetime(2026, 6, 1, 20, 0, tzinfo=UTC)  # 15:00 on 1 June in Bogotá
EXPIRES_AT = datetime(2026, 8, 31, 5, 0, tzinfo=UTC)  # usable through 30 August


@pytest.fixture
def shop(make_plan, make_tenant, db, platform):
    make_plan("packs", {"packs"})
    tenant = make_tenant(slug="spa", plan="packs")
    with db(tenant) as session:
        platform.plugins.save_settings(session, "packs", {"types": [MASSAGE, DRINKS]})
        session.commit()
    return tenant


def sell(db, tenant, member, kind, uses=0):
    """Sell a pack of `kind` on SOLD_AT and use it `uses` times."""
    with clock_at(SOLD_AT), db(tenant) as session:
        pack = packs.sell_pack(
            session, session.get(Membership, member.id), kind["key"], actor=Actor.staff(None)
        )
        for _ in range(uses):
            packs.use_pack(session, pack, actor=Actor.staff(None))
        session.commit()


def card_lines(client, app, member, at):
    sign_in_customer(client, app, member)
    with clock_at(at):
        answer = client.get("/t/spa/app/")
    assert answer.status_code == 200
    text = html.unescape(answer.get_data(as_text=True)).replace("\xa0", " ")
    return text[text.find('<dl class="card-lines">') : text.find("</dl>")]


def test_the_card_shows_each_usable_pack_with_uses_left_and_last_day(
    client, app, db, shop, make_member
):
    ana = make_member(shop)
    sell(db, shop, ana, MASSAGE, uses=2)
    sell(db, shop, ana, DRINKS)
    lines = card_lines(client, app, ana, SOLD_AT + timedelta(days=1))
    assert (
        "<dt>Bono de 5 sesiones de masaje</dt>"
        "<dd>3 de 5 disponibles, hasta el 30 de agosto de 2026</dd>" in lines
    )
    assert "<dt>Bono de 3 copas</dt><dd>3 de 3 disponibles</dd>" in lines


def test_used_up_and_expired_packs_leave_the_card(client, app, db, shop, make_member):
    ana = make_member(shop)
    sell(db, shop, ana, MASSAGE)
    sell(db, shop, ana, DRINKS, uses=3)
    assert "masaje" in card_lines(client, app, ana, EXPIRES_AT - timedelta(minutes=1))
    assert card_lines(client, app, ana, EXPIRES_AT) == ""


def test_another_members_packs_never_show(client, app, db, shop, make_member):
    ana, eva = make_member(shop), make_member(shop)
    sell(db, shop, eva, DRINKS)
    assert card_lines(client, app, ana, SOLD_AT) == ""
