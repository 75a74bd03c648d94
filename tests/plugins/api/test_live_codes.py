"""The POS API and the app's rotating QR: a till reads Ana's live code like her static
one; a stale code answers 404 `stale_live_code`; another merchant's member's live code
is an unknown code; where the merchant requires the live QR for redemptions, her static
code answers 403 `live_code_required` and changes nothing, and her live code redeems."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.host.actors import Actor
from core.host.db import utcnow
from core.loyalty import ledger, live_codes
from core.loyalty.members import Membership
from core.loyalty.program import update_program
from core.loyalty.rewards import create_reward


def with_secret(db, tenant, member, points=0):
    with db(tenant) as session:
        row = session.get(Membership, member.id)
        row.live_secret = live_codes.new_secret()
        if points:
            ledger.earn(session, row, points=points, actor=Actor.staff(None))
        session.commit()
        session.refresh(row)
        return row


def live(member, ago=timedelta(0)) -> str:
    return live_codes.live_code(member.code, member.live_secret, (utcnow() - ago).timestamp())


@pytest.fixture
def ana(shop, db, make_member):
    return with_secret(db, shop, make_member(shop, "ana@mail.example", first_name="Ana"), 100)


def test_a_live_code_reads_the_customer(call, token, ana):
    answer = call("GET", f"/customers/{live(ana)}", token)
    assert answer.status_code == 200 and answer.json["code"] == ana.code


def test_a_stale_live_code_answers_404_saying_so(call, token, ana):
    answer = call("GET", f"/customers/{live(ana, timedelta(seconds=90))}", token)
    assert answer.status_code == 404 and answer.json["reason"] == "stale_live_code"


def test_another_merchants_live_code_is_unknown(call, token, db, make_shop, make_member, ana):
    other = make_shop(slug="panaderia", name="Panadería")
    eva = with_secret(db, other, make_member(other, "eva@mail.example"), 100)
    answer = call("GET", f"/customers/{live(eva)}", token)
    assert answer.status_code == 404 and answer.json["reason"] == "not_found"


def test_where_required_only_the_live_code_redeems(call, token, db, shop, ana):
    with db(shop) as session:
        update_program(session, {"live_code_for_redemptions": True})
        reward = create_reward(session, name="Café gratis", points=30, stock=5)
        session.commit()
    body = {"reward_id": reward.id}
    answer = call("POST", f"/customers/{ana.code}/redemptions", token, json=body, key="r1")
    assert answer.status_code == 403 and answer.json["reason"] == "live_code_required"
    assert call("GET", f"/customers/{ana.code}", token).json["balance"] == 100
    answer = call("POST", f"/customers/{live(ana)}/redemptions", token, json=body, key="r2")
    assert answer.status_code == 201, answer.json
    assert answer.json["customer_code"] == ana.code and answer.json["balance"] == 70
