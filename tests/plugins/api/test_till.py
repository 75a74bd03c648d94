"""The till's endpoints: a sale with lines, its quote, its returns, pay with points, packs."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.host.actors import Actor
from core.loyalty.ledger import Entry
from core.loyalty.members import Membership
from core.loyalty.purchases import Purchase
from plugins.packs import packs

PLATA = {"code": "plata", "name": "Plata", "multiplier": "1", "threshold": "0"}
ORO = {"code": "oro", "name": "Oro", "multiplier": "2", "threshold": "500000"}
SIEMPRE = {"name": "Siempre", "percent": "5"}
COFFEE = {"key": "cafe", "name": "Café", "product_group": "cafes", "size": 3, "prize": "Tostada"}
MASSAGE = {"key": "masaje", "name": "Bono de 2 masajes", "uses": 2, "price": "150000"}
SALE = {
    "amount": "9000",
    "lines": [{"sku": "CAF-1", "product_group": "cafes", "quantity": 2, "unit_price": "4500"}],
    "reference": "F-1",
}


@pytest.fixture
def till(make_shop, db, platform):
    """1 point per 1,000; tiers (Plata ×1 from 0), cashback 5% (10 a point, 50% payable),
    a 3-coffee card and a massage pack."""
    tenant = make_shop()
    with db(tenant) as session:
        platform.plugins.save_settings(session, "tiers", {"tiers": [PLATA, ORO]})
        platform.plugins.save_settings(
            session,
            "cashback",
            {"programs": [SIEMPRE], "point_value": "10", "max_pay_with_points_percent": "50"},
        )
        platform.plugins.save_settings(session, "punchcards", {"cards": [COFFEE]})
        platform.plugins.save_settings(session, "packs", {"types": [MASSAGE]})
        session.commit()
    return tenant


@pytest.fixture
def secret(till, make_token):
    return make_token(till)


@pytest.fixture
def ana(till, make_member):
    return make_member(till)


def counts(db, tenant):
    with db(tenant) as session:
        return (
            session.scalar(select(func.count()).select_from(Purchase)),
            session.scalar(select(func.count()).select_from(Entry)),
        )


def balance(db, tenant, member):
    with db(tenant) as session:
        return session.get(Membership, member.id).balance


def test_a_sale_applies_every_rule_and_labels_each_entry(call, secret, ana, db, till):
    answer = call("POST", f"/customers/{ana.code}/purchases", secret, json=SALE, key="s1")
    assert answer.status_code == 201, answer.json
    assert [(e["kind"], e["label"], e["points"]) for e in answer.json["entries"]] == [
        ("earn", "Puntos acumulados", 9),
        ("cashback", "Siempre 5%", 45),
    ]
    assert (answer.json["points"], answer.json["balance"], answer.json["amount"]) == (
        54,
        54,
        "9000.00",
    )
    again = call("POST", f"/customers/{ana.code}/purchases", secret, json=SALE, key="s1")
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == answer.json
    shown = call("GET", f"/customers/{ana.code}", secret).json
    assert shown["punch_cards"] == [{"name": "Café", "count": 2, "size": 3}]
    assert shown["tier"]["code"] == "plata" and shown["tier"]["next_tier"] == "Oro"
    assert shown["balance"] == 54 and balance(db, till, ana) == 54


def test_a_quote_writes_nothing_and_matches_the_sale(call, secret, ana, db, till):
    before = counts(db, till)
    quote = call("POST", "/purchases/quote", secret, json={**SALE, "customer_code": ana.code})
    assert quote.status_code == 200, quote.json
    assert counts(db, till) == before
    assert (quote.json["points"], quote.json["balance"], quote.json["max_points_payable"]) == (
        54,
        0,
        0,  # the cap allows 450, but she has no points yet
    )
    stranger = call("POST", "/purchases/quote", secret, json={"amount": "9000"}).json
    assert (stranger["balance"], stranger["max_points_payable"]) == (None, 450)
    assert stranger["max_amount_payable"] == "4500.00"
    assert [line["label"] for line in stranger["lines"]] == ["Puntos acumulados", "Siempre 5%"]
    sale = call("POST", f"/customers/{ana.code}/purchases", secret, json=SALE).json
    assert sale["points"] == quote.json["points"]
    unknown = call("POST", "/purchases/quote", secret, json={**SALE, "customer_code": "NOPE"})
    assert unknown.status_code == 404


def test_returning_half_then_the_rest_takes_points_and_punches_back(call, secret, ana, db, till):
    call("POST", f"/customers/{ana.code}/purchases", secret, json=SALE)
    half = {"lines": [{"product_group": "cafes", "quantity": 1}]}
    first = call("POST", "/purchases/F-1/returns", secret, json=half, key="r1")
    assert first.status_code == 200, first.json
    assert (first.json["points"], first.json["balance"], first.json["status"]) == (
        27,
        27,
        "recorded",
    )
    assert (first.json["amount_returned"], first.json["amount_kept"]) == ("4500.00", "4500.00")
    assert first.json["entry"]["kind"] == "return"
    replay = call("POST", "/purchases/F-1/returns", secret, json=half, key="r1")
    assert replay.json == first.json and balance(db, till, ana) == 27
    cards = call("GET", f"/customers/{ana.code}", secret).json["punch_cards"]
    assert cards == [{"name": "Café", "count": 1, "size": 3}]
    rest = call("POST", "/purchases/F-1/returns", secret, json={})
    assert (rest.json["points"], rest.json["status"], rest.json["amount_kept"]) == (
        27,
        "returned",
        "0.00",
    )
    assert balance(db, till, ana) == 0
    again = call("POST", "/purchases/F-1/returns", secret, json={})
    assert again.status_code == 200 and (again.json["points"], again.json["entry"]) == (0, None)
    more = call("POST", "/purchases/F-1/returns", secret, json={"amount": "1"})
    assert more.status_code == 409 and more.json["reason"] == "nothing_to_return"
    cards = call("GET", f"/customers/{ana.code}", secret).json["punch_cards"]
    assert cards == [{"name": "Café", "count": 0, "size": 3}]


def test_a_return_by_amount_is_in_proportion_and_refuses_more_than_is_left(
    call, secret, ana, db, till
):
    call("POST", f"/customers/{ana.code}/purchases", secret, json=SALE)
    part = call("POST", "/purchases/F-1/returns", secret, json={"amount": "3000"})
    assert part.json["points"] == 18  # floor(54 × 3,000 / 9,000)
    over = call("POST", "/purchases/F-1/returns", secret, json={"amount": "6000.01"})
    assert over.status_code == 409 and over.json["reason"] == "nothing_to_return"
    both = call(
        "POST", "/purchases/F-1/returns", secret, json={"amount": "1", "lines": half_line()}
    )
    assert both.status_code == 422
    missing = call(
        "POST", "/purchases/F-1/returns", secret, json={"lines": [{"sku": "X", "quantity": 1}]}
    )
    assert missing.status_code == 409
    assert balance(db, till, ana) == 36
    unknown = call("POST", "/purchases/F-404/returns", secret, json={})
    assert unknown.status_code == 404


def half_line():
    return [{"product_group": "cafes", "quantity": 1}]


def test_paying_with_points_follows_the_cap_and_the_balance(call, secret, ana, db, till):
    pay = f"/customers/{ana.code}/payments"
    short = call("POST", pay, secret, json={"bill_amount": "10000", "points": 100})
    assert short.status_code == 409 and short.json["reason"] == "insufficient_points"
    call("POST", f"/customers/{ana.code}/points", secret, json={"points": 1000})
    over = call("POST", pay, secret, json={"bill_amount": "10000", "points": 501})
    assert over.status_code == 409 and over.json["reason"] == "over_pay_with_points_cap"
    assert "500" in over.json["message"] and "500" in over.json["errors"]["points"][0]
    paid = call("POST", pay, secret, json={"bill_amount": "10000", "points": 500}, key="p1")
    assert paid.status_code == 201, paid.json
    assert (paid.json["value"], paid.json["to_pay"], paid.json["balance"]) == (
        "5000.00",
        "5000.00",
        500,
    )
    assert paid.json["entry"]["kind"] == "pay_with_points"
    again = call("POST", pay, secret, json={"bill_amount": "10000", "points": 500}, key="p1")
    assert again.json == paid.json and balance(db, till, ana) == 500


def test_switched_off_plugins_answer_feature_not_enabled(call, secret, ana, db, till, platform):
    with db(till) as session:
        platform.plugins.switch(session, till, "cashback", False)
        platform.plugins.switch(session, till, "packs", False)
        session.commit()
    paid = call(
        "POST", f"/customers/{ana.code}/payments", secret, json={"bill_amount": "10", "points": 1}
    )
    assert paid.status_code == 403 and paid.json["reason"] == "feature_not_enabled"
    used = call("POST", f"/customers/{ana.code}/packs/1/uses", secret, json={})
    assert used.status_code == 403
    quote = call("POST", "/purchases/quote", secret, json={"amount": "9000"}).json
    assert quote["max_points_payable"] is None and quote["points"] == 9
    assert call("GET", f"/customers/{ana.code}", secret).json["packs"] == []


def test_a_customers_program_is_empty_where_its_plugins_are_off(
    call, secret, ana, db, till, platform
):
    """The facts of GET /customers/{code} come from the active plugins (`member_facts`):
    switched off, each field keeps its empty value."""
    call("POST", f"/customers/{ana.code}/purchases", secret, json=SALE)
    shown = call("GET", f"/customers/{ana.code}", secret).json
    assert shown["tier"]["code"] == "plata" and shown["punch_cards"][0]["count"] == 2
    with db(till) as session:
        for plugin in ("tiers", "punchcards", "packs"):
            platform.plugins.switch(session, till, plugin, False)
        session.commit()
    shown = call("GET", f"/customers/{ana.code}", secret).json
    assert (shown["tier"], shown["punch_cards"], shown["prizes_waiting"], shown["packs"]) == (
        None,
        [],
        0,
        [],
    )


def test_a_pack_is_used_once_per_use_and_only_by_its_member(
    call, secret, ana, make_member, db, till
):
    with db(till) as session:
        pack = packs.sell_pack(
            session, session.get(Membership, ana.id), "masaje", actor=Actor.system()
        )
        session.commit()
        pack_id = pack.id
    other = make_member(till)
    assert (
        call("POST", f"/customers/{other.code}/packs/{pack_id}/uses", secret, json={}).status_code
        == 404
    )
    first = call("POST", f"/customers/{ana.code}/packs/{pack_id}/uses", secret, json={}, key="u1")
    assert first.status_code == 201, first.json
    assert first.json["pack"]["uses_left"] == 1
    replay = call("POST", f"/customers/{ana.code}/packs/{pack_id}/uses", secret, json={}, key="u1")
    assert replay.json == first.json
    shown = call("GET", f"/customers/{ana.code}", secret).json["packs"]
    assert [(p["id"], p["uses_left"]) for p in shown] == [(pack_id, 1)]
    call("POST", f"/customers/{ana.code}/packs/{pack_id}/uses", secret, json={})
    spent = call("POST", f"/customers/{ana.code}/packs/{pack_id}/uses", secret, json={})
    assert spent.status_code == 409 and spent.json["reason"] == "pack_used_up"


def test_writing_needs_the_points_scope(call, till, ana, make_token):
    reader = make_token(till, scopes="customers:write")
    for path, body in (
        (f"/customers/{ana.code}/purchases", SALE),
        ("/purchases/F-1/returns", {}),
        (f"/customers/{ana.code}/payments", {"bill_amount": "10", "points": 1}),
        (f"/customers/{ana.code}/packs/1/uses", {}),
    ):
        answer = call("POST", path, reader, json=body)
        assert answer.status_code == 403 and answer.json["reason"] == "missing_scope", path
    assert call("POST", "/purchases/quote", reader, json={"amount": "10"}).status_code == 200


def test_another_merchants_customers_purchases_and_packs_answer_404(
    call, secret, ana, make_shop, make_token, make_member, db, till
):
    call("POST", f"/customers/{ana.code}/purchases", secret, json=SALE)
    with db(till) as session:
        pack_id = packs.sell_pack(
            session, session.get(Membership, ana.id), "masaje", actor=Actor.system()
        ).id
        session.commit()
    other = make_shop(slug="otra")
    theirs = make_token(other)
    stranger = make_member(other)
    before = counts(db, till)
    for method, path, body in (
        ("POST", f"/customers/{ana.code}/purchases", SALE),
        ("POST", "/purchases/quote", {**SALE, "customer_code": ana.code}),
        ("POST", "/purchases/F-1/returns", {}),
        ("POST", f"/customers/{ana.code}/payments", {"bill_amount": "10", "points": 1}),
        ("POST", f"/customers/{ana.code}/packs/{pack_id}/uses", {}),
        ("POST", f"/customers/{stranger.code}/packs/{pack_id}/uses", {}),
    ):
        answer = call(method, path, theirs, json=body)
        assert answer.status_code == 404, (path, answer.json)
    assert counts(db, till) == before and balance(db, till, ana) == 54
    shown = call("GET", f"/customers/{ana.code}", secret).json
    assert shown["packs"][0]["uses_left"] == 2


def test_the_readmes_whole_sale_runs_in_curl(live_api, till, secret, ana, call, db):
    """The README's quote → pay → purchase → return → read, run by bash and curl against
    a served API, each answer a success."""
    call("POST", f"/customers/{ana.code}/points", secret, json={"points": 145})
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    block = re.search(r"A whole sale at the till.*?```sh\n(.*?)```", readme, re.S).group(1)
    script = "curl() { command curl -w '\\n%{http_code}\\n' \"$@\"; }\n" + block.replace(
        "7KQ2M9X", ana.code
    )
    run = subprocess.run(
        ["bash", "-c", script],
        env={"API": f"{live_api}/api/v1", "TOKEN": secret, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    out = [line for line in run.stdout.split("\n") if line.strip()]
    answers = [(int(out[i + 1]), json.loads(out[i])) for i in range(0, len(out), 2)]
    assert [status for status, _body in answers] == [200, 201, 201, 200, 200], answers
    quote, paid, sale, back, shown = (body for _status, body in answers)
    assert quote["points"] == sale["points"] == 54
    assert (paid["points"], back["amount_returned"], back["points"]) == (100, "4500.00", 27)
    assert shown["balance"] == 145 - 100 + 54 - 27 == balance(db, till, ana)
    assert shown["punch_cards"] == [{"name": "Café", "count": 1, "size": 3}]  # 2 − 1
