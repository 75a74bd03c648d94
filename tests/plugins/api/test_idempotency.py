"""`Idempotency-Key`: retries give the first answer and write nothing, even concurrently."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.customer_app.data_rights import delete_account
from core.host.db import platform_session, utcnow
from core.loyalty.ledger import Entry, audit_member
from core.loyalty.member_totals import MemberTotals
from core.loyalty.members import Membership, get_member
from core.loyalty.purchases import Purchase
from core.loyalty.rewards import Redemption, get_reward
from plugins.api import forget_old_answers
from plugins.api.models import IdempotentResponse
from tenants.models import Tenant
from tests.concurrency import finished_while_held, run_together, unexpected_errors


def _customer(call, token, email="ana@example.com"):
    return call(
        "POST",
        "/customers",
        token,
        json={"email": email, "first_name": "Ana", "last_name": "Núñez"},
    ).json["code"]


def _count(db, tenant, model):
    with db(tenant) as session:
        return session.scalar(select(func.count()).select_from(model))


def test_a_retried_earn_returns_the_first_answer_and_gives_nothing(call, token, shop, db):
    code = _customer(call, token)
    first = call("POST", f"/customers/{code}/points", token, json={"amount": "45000"}, key="k-1")
    again = call("POST", f"/customers/{code}/points", token, json={"amount": "45000"}, key="k-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    with db(shop) as session:
        assert get_member(session, code).balance == 45
    assert _count(db, shop, Purchase) == 1


def test_a_retried_earn_answers_the_same_bytes(call, token, shop):
    # The first answer is the text its statement stored (PostgreSQL) or the view's own
    # dump (SQLite); a replay is the stored body's: a client comparing them sees no change.
    code = _customer(call, token)
    body = {"amount": "45000", "description": "Café con leche"}
    first = call("POST", f"/customers/{code}/points", token, json=body, key="k-bytes")
    again = call("POST", f"/customers/{code}/points", token, json=body, key="k-bytes")
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.mimetype == again.mimetype == "application/json"
    assert first.json["entries"][0]["description"] == "Café con leche"
    assert again.get_data() == first.get_data()


def test_a_retry_after_the_person_erased_their_account_answers_the_same(
    call, token, shop, db, platform
):
    # Erasure keeps the membership, its purchases and entries (anonymised): the answer,
    # rendered again from the purchase on PostgreSQL, is still the first.
    code = _customer(call, token)
    body = {"amount": "45000", "description": "Almuerzo"}
    first = call("POST", f"/customers/{code}/points", token, json=body, key="k-erased")
    with platform_session(platform.sessions) as session:
        customer_id = session.scalar(select(Membership.customer_id).where(Membership.code == code))
        delete_account(session, customer_id)
        session.commit()
    again = call("POST", f"/customers/{code}/points", token, json=body, key="k-erased")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    assert _count(db, shop, Purchase) == 1


def test_the_same_key_with_another_body_is_refused(call, token, shop, db):
    code = _customer(call, token)
    call("POST", f"/customers/{code}/points", token, json={"points": 10}, key="k-2")
    other = call("POST", f"/customers/{code}/points", token, json={"points": 11}, key="k-2")
    assert (other.status_code, other.json["reason"]) == (409, "idempotency_key_reused")
    elsewhere = call(
        "POST", "/rewards", token, json={"name": "X", "points": 5, "stock": 1}, key="k-2"
    )
    assert elsewhere.status_code == 409
    with db(shop) as session:
        assert get_member(session, code).balance == 10


def test_keys_are_per_merchant(call, token, make_shop, make_token):
    other_token = make_token(make_shop())
    mine = _customer(call, token)
    theirs = _customer(call, other_token)
    first = call("POST", f"/customers/{mine}/points", token, json={"points": 10}, key="same")
    second = call(
        "POST", f"/customers/{theirs}/points", other_token, json={"points": 10}, key="same"
    )
    assert (first.status_code, second.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in second.headers


def test_a_failed_request_is_not_remembered(call, token, shop, db):
    code = _customer(call, token)
    reward_id = call(
        "POST", "/rewards", token, json={"name": "Café", "points": 100, "stock": 3}
    ).json["id"]
    short = call(
        "POST", f"/customers/{code}/redemptions", token, json={"reward_id": reward_id}, key="r-1"
    )
    assert short.status_code == 409
    call("POST", f"/customers/{code}/points", token, json={"points": 100})
    retried = call(
        "POST", f"/customers/{code}/redemptions", token, json={"reward_id": reward_id}, key="r-1"
    )
    assert (retried.status_code, retried.json["balance"]) == (201, 0)


def test_retried_customer_creation_and_redemption(call, token, shop, db):
    body = {"email": "eva@example.com", "first_name": "Eva", "last_name": "Gil"}
    first = call("POST", "/customers", token, json=body, key="c-1")
    again = call("POST", "/customers", token, json=body, key="c-1")
    assert (first.status_code, again.status_code, again.json) == (201, 201, first.json)
    code = first.json["code"]
    call("POST", f"/customers/{code}/points", token, json={"points": 300})
    reward_id = call(
        "POST", "/rewards", token, json={"name": "Café", "points": 100, "stock": 3}
    ).json["id"]
    answers = [
        call(
            "POST",
            f"/customers/{code}/redemptions",
            token,
            json={"reward_id": reward_id},
            key="r-2",
        ).json
        for _ in range(3)
    ]
    assert answers[0] == answers[1] == answers[2]
    with db(shop) as session:
        assert get_member(session, code).balance == 200
        assert get_reward(session, reward_id).stock == 2
    assert _count(db, shop, Redemption) == 1


@pytest.mark.parametrize("key", ["", " ", "x" * 181, "tab\there"])
def test_bad_keys_are_refused(call, token, key):
    code = _customer(call, token)
    answer = call(
        "POST",
        f"/customers/{code}/points",
        token,
        json={"points": 1},
        headers={"Idempotency-Key": key},
    )
    assert answer.status_code == 422 and "Idempotency-Key" in answer.json["errors"]


def test_old_answers_are_forgotten_after_two_days(call, token, shop, db, platform, app):
    code = _customer(call, token)
    call("POST", f"/customers/{code}/points", token, json={"points": 1}, key="old")
    call("POST", f"/customers/{code}/points", token, json={"points": 2}, key="new")
    with platform_session(platform.sessions) as session:
        session.execute(
            IdempotentResponse.__table__.update()
            .where(IdempotentResponse.key == "old")
            .values(created_at=utcnow() - timedelta(hours=49))
        )
        session.commit()
    assert forget_old_answers() == 1
    with db(shop) as session:
        assert session.scalars(select(IdempotentResponse.key)).all() == ["new"]


@pytest.mark.postgres
@pytest.mark.parametrize(
    "path, body, model",
    [
        ("/customers/{code}/points", {"amount": "12000"}, Purchase),
        ("/customers/{code}/points", {"points": 7}, Entry),
        ("/customers/{code}/redemptions", {"reward_id": "{reward_id}"}, Redemption),
        (
            "/customers",
            {"email": "new@example.com", "first_name": "N", "last_name": "W"},
            Membership,
        ),
    ],
)
def test_concurrent_replays_write_once(app, call, token, shop, db, path, body, model):
    code = _customer(call, token)
    call("POST", f"/customers/{code}/points", token, json={"points": 500})
    reward_id = call(
        "POST", "/rewards", token, json={"name": "Café", "points": 100, "stock": 50}
    ).json["id"]
    body = {k: reward_id if v == "{reward_id}" else v for k, v in body.items()}
    path = path.format(code=code)
    before = _count(db, shop, model)

    def work(_i):
        answer = call("POST", path, token, json=body, key="race")
        return (answer.status_code, answer.get_data(as_text=True))

    results = run_together(app, 10, work)
    assert unexpected_errors(results) == []
    answers = {r[1] for r in results}
    assert len(answers) == 1, answers  # every copy got the very same answer
    assert next(iter(answers))[0] == 201
    assert _count(db, shop, model) == before + 1
    with db(shop) as session:
        member = get_member(session, code)
        balance, entries, lots = audit_member(session, member.id)
    assert balance == entries == lots


def test_a_reused_key_is_refused_before_the_body_is_read(call, token):
    """The refusal (409) passes through the answer-after-commit step, which once took it
    for a twin's answer and failed on it (500)."""
    first = call("POST", "/rewards", token, json={"name": "X", "points": 5, "stock": 1}, key="k-3")
    assert first.status_code == 201
    for body in (None, {"name": "Y", "points": 5, "stock": 1}):
        again = call("POST", "/customers", token, json=body, key="k-3")
        assert (again.status_code, again.json["reason"]) == (409, "idempotency_key_reused")


def test_the_earns_answer_names_the_ids_it_wrote(call, token, shop, db):
    code = _customer(call, token)
    body = {"amount": "45000", "description": "-100000000000000001 Café"}
    first = call("POST", f"/customers/{code}/points", token, json=body, key="k-ids")
    assert first.status_code == 201, first.json
    with db(shop) as session:
        entry = session.scalar(select(Entry).where(Entry.points > 0))
    assert first.json["entry_id"] == entry.id
    assert [e["id"] for e in first.json["entries"]] == [entry.id]
    again = call("POST", f"/customers/{code}/points", token, json=body, key="k-ids")
    assert (again.status_code, again.json) == (201, first.json)


@pytest.mark.postgres  # SQLite has no row locks
def test_a_keyed_earn_holds_nothing_of_the_merchants_row(
    app, call, make_plan, make_shop, make_token, db
):
    """The rows a keyed earn writes keep the merchant's id without a key checked against
    its row (the ledger's reach it through the member; the stored answer and the outbox
    row keep none): a transaction holding that row (FOR UPDATE) holds up no sale. Each
    key checked was a KEY SHARE lock on that one row, taken by every concurrent sale.
    (A merchant with the API alone: other plugins' work after the commit writes rows of
    their own, each with its key to the merchant.)"""
    make_plan("till-only", {"api"})
    shop = make_shop(plan="till-only")
    token = make_token(shop)
    code = _customer(call, token)
    with db(shop) as session:
        # Every stripe of the merchant's totals written once, as traffic leaves them
        # (a stripe's first row is inserted, and checks its own key to the merchant).
        kept = {row.stripe for row in session.scalars(select(MemberTotals))}
        session.add_all(MemberTotals(stripe=s, members=0, points=0) for s in set(range(16)) - kept)
        session.commit()

    def earn() -> None:
        answer = call("POST", f"/customers/{code}/points", token, json={"amount": "9000"}, key="h")
        assert answer.status_code == 201, answer.json

    with db(shop) as holding:
        holding.execute(select(Tenant.id).where(Tenant.id == shop.id).with_for_update())
        assert finished_while_held(app, holding, earn), "the earn waited for the merchant's row"
    with db(shop) as session:
        assert get_member(session, code).balance == 9
        assert session.scalar(select(IdempotentResponse.purchase_id)) is not None
