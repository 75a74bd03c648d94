"""Tokens kept by each process (token_cache): no token statement on the hot path, and
every change to a token, plan, plugin, setting or merchant counts on the next request
of every process (two apps sharing Redis, as two gunicorn workers do)."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from core.host.actors import Actor
from core.host.db import clock_at, platform_session, tenant_session, utcnow
from core.loyalty import ledger, live_codes
from core.loyalty.ledger import Entry, audit_member
from core.loyalty.members import get_member
from core.loyalty.program import update_program
from core.loyalty.purchases import Purchase
from core.loyalty.rewards import Redemption, Reward, create_reward
from core.testing.factories import FreshContextClient
from plugins.api import tokens
from plugins.api.models import ApiToken, IdempotentResponse
from tenants.models import Tenant
from tenants.services import set_plan_plugins
from tests.concurrency import run_together, unexpected_errors


@pytest.fixture
def apps(make_app, redis_url):
    """Two apps (two processes' worth of caches) sharing the database and Redis."""
    return [make_app(PREMIA_REDIS_URL=redis_url) for _ in range(2)]


def _client(app):
    app.test_client_class = FreshContextClient
    return app.test_client()


def _send(app, method, path, secret, *, json=None, key=None):
    headers = {"Authorization": f"Bearer {secret}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return _client(app).open("/api/v1" + path, method=method, json=json, headers=headers)


@contextmanager
def _statements(app, trips: list[str] | None = None):
    """The statements `app` sends; `trips` (if given): its round trips to PostgreSQL, a
    statement sent in a pipeline with the next (BEGIN's, COMMIT's) not counted apart."""
    seen: list[str] = []

    def record(_conn, cursor, statement, *_args) -> None:
        seen.append(statement)
        if trips is not None and getattr(cursor.connection, "_pipeline", None) is None:
            trips.append(statement)

    def committed(_conn) -> None:
        if trips is not None:
            trips.append("COMMIT")

    engine = app.extensions["premia"].engine
    event.listen(engine, "before_cursor_execute", record)
    event.listen(engine, "commit", committed)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
        event.remove(engine, "commit", committed)


@contextmanager
def _session(app, tenant_id):
    """A session of `app` (its commits publish new versions through its Redis)."""
    with app.app_context(), tenant_session(app.extensions["premia"].sessions, tenant_id) as s:
        yield s


def _customer(app, secret) -> str:
    answer = _send(
        app,
        "POST",
        "/customers",
        secret,
        json={"email": "ana@example.com", "first_name": "Ana", "last_name": "Núñez"},
    )
    assert answer.status_code == 201, answer.json
    return answer.json["code"]


def _warm(app, secret) -> None:
    """Requests until the token is kept: the first learns its tenant, the second starts
    the versions in Redis, the third keeps it; the fourth reads no token."""
    for _ in range(3):
        assert _send(app, "GET", "/program", secret).status_code == 200
    with _statements(app) as seen:
        assert _send(app, "GET", "/program", secret).status_code == 200
    assert not [s for s in seen if "api_tokens" in s], seen


def test_a_kept_token_costs_no_statement_and_the_earn_three_statements(apps, shop, token, db):
    first, _second = apps
    code = _customer(first, token)
    _warm(first, token)
    with _statements(first) as seen:
        earn = _send(first, "POST", f"/customers/{code}/points", token, json={"amount": "45000"})
    assert earn.status_code == 201, earn.json
    assert earn.json["points"] == 45
    assert not [s for s in seen if "api_tokens" in s]
    # The member locked with the answer stored for the key; the purchase with the answer
    # (PostgreSQL: one statement; SQLite: the purchase's statements, then the answer).
    trips: list[str] = []
    with _statements(first, trips) as seen:
        keyed = _send(
            first, "POST", f"/customers/{code}/points", token, json={"amount": "1000"}, key="k"
        )
    assert keyed.status_code == 201
    sent = [s for s in seen if not s.startswith("BEGIN")]  # SQLite's BEGIN IMMEDIATE
    assert "api_idempotent_responses" in sent[0] and "FROM memberships" in sent[0], sent
    if first.extensions["premia"].engine.dialect.name == "postgresql":  # the one-statement path
        assert len(seen) == 3, seen
        assert "FOR NO KEY UPDATE" in seen[0] and "customers" not in seen[0]
        assert "INSERT INTO api_idempotent_responses" in seen[1] and "ledger_lots" in seen[1]
        # What the earn announced, kept in its transaction (core/host/outbox.py).
        assert seen[2].startswith("INSERT INTO outbox"), seen
        # Round trips: BEGIN rides with the lock, the outbox row with the COMMIT (with
        # rq no process needs its id: core/host/outbox.py, `_insert_with_commit`).
        assert [t.split()[0] for t in trips] == ["SELECT", "WITH", "COMMIT"], trips
    with db(shop) as session:
        stored = session.execute(
            select(IdempotentResponse.body, IdempotentResponse.purchase_id)
        ).one()
        keyed_purchase = session.scalar(
            select(Purchase.id).where(Purchase.idempotency_key == "client:k")
        )
    if first.extensions["premia"].engine.dialect.name == "postgresql":
        assert stored == (None, keyed_purchase)  # the one statement names the purchase
    else:
        assert stored == (keyed.json, None)  # the view's answer, stored after it
    again = _send(
        first, "POST", f"/customers/{code}/points", token, json={"amount": "1000"}, key="k"
    )
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == keyed.json
    other = _send(
        first, "POST", f"/customers/{code}/points", token, json={"amount": "2000"}, key="k"
    )
    assert (other.status_code, other.json["reason"]) == (409, "idempotency_key_reused")
    with db(shop) as session:
        member = get_member(session, code)
        assert member.balance == 46
        assert session.scalar(select(func.count()).select_from(Entry)) == 2


def test_a_revoked_token_fails_on_the_next_request_of_every_process(apps, shop, token):
    first, second = apps
    _warm(first, token)
    _warm(second, token)
    with _session(second, shop.id) as session:
        row = session.scalar(select(ApiToken))
        tokens.revoke_token(session, row.id)
        session.commit()
    for app in (first, second):
        refused = _send(app, "GET", "/program", token)
        assert (refused.status_code, refused.json["reason"]) == (401, "unauthorized")


def test_a_suspended_merchant_is_refused_on_the_next_request(apps, shop, token):
    first, second = apps
    _warm(first, token)
    with second.app_context(), platform_session(second.extensions["premia"].sessions) as session:
        session.get(Tenant, shop.id).suspended_at = utcnow()
        session.commit()
    assert _send(first, "GET", "/program", token).status_code == 403


def test_a_plan_losing_a_plugin_counts_on_the_next_request(apps, make_plan, make_shop, make_token):
    first, second = apps
    plan = make_plan("till", {"api", "webhooks"})
    shop = make_shop(plan="till")
    secret = make_token(shop)
    _warm(first, secret)
    assert _send(first, "GET", "/webhooks/endpoints", secret).status_code == 200
    with second.app_context(), platform_session(second.extensions["premia"].sessions) as session:
        set_plan_plugins(session, session.merge(plan), {"api"})
        session.commit()
    assert _send(first, "GET", "/webhooks/endpoints", secret).status_code == 404
    _warm(first, secret)
    with second.app_context(), platform_session(second.extensions["premia"].sessions) as session:
        set_plan_plugins(session, session.merge(plan), set())
        session.commit()
    refused = _send(first, "GET", "/program", secret)
    assert (refused.status_code, refused.json["reason"]) == (403, "api_not_enabled")


def test_a_plugin_switched_off_counts_on_the_next_request(apps, shop, token):
    first, second = apps
    _warm(first, token)
    assert _send(first, "GET", "/webhooks/endpoints", token).status_code == 200
    with _session(second, shop.id) as session:
        platform = second.extensions["premia"]
        platform.plugins.switch(session, session.get(Tenant, shop.id), "webhooks", False)
        session.commit()
    assert _send(first, "GET", "/webhooks/endpoints", token).status_code == 404
    _warm(first, token)
    with _session(second, shop.id) as session:
        platform = second.extensions["premia"]
        platform.plugins.switch(session, session.get(Tenant, shop.id), "api", False)
        session.commit()
    refused = _send(first, "GET", "/program", token)
    assert (refused.status_code, refused.json["reason"]) == (403, "api_not_enabled")


def test_a_settings_change_applies_on_the_next_request(apps, shop, token):
    first, second = apps
    code = _customer(first, token)
    _warm(first, token)
    before = _send(first, "POST", f"/customers/{code}/points", token, json={"amount": "45000"})
    assert before.json["points"] == 45
    with _session(second, shop.id) as session:
        update_program(session, {"points_per_amount": {"amount": "1000", "points": 2}})
        session.commit()
    after = _send(first, "POST", f"/customers/{code}/points", token, json={"amount": "45000"})
    assert after.json["points"] == 90
    assert _send(first, "GET", "/program", token).json["points_per_amount"]["points"] == 2


def test_versions_emptied_from_redis_keep_nothing_stale(apps, shop, token, redis_url):
    """Redis emptied (or its keys evicted): nothing is served from the cache until the
    versions start again, and a change after that still counts."""
    from redis import Redis

    first, second = apps
    _warm(first, token)
    Redis.from_url(redis_url).flushdb()
    _warm(first, token)
    with _session(second, shop.id) as session:
        tokens.revoke_token(session, session.scalar(select(ApiToken)).id)
        session.commit()
    assert _send(first, "GET", "/program", token).status_code == 401


def test_a_kept_token_asks_redis_once_and_its_hit_counts_after_redis_lost_the_script(
    apps, shop, token, redis_url, monkeypatch
):
    """The rate limit's hit and the tenant's versions go in one round trip (redis-py
    sent SCRIPT EXISTS before each pipeline holding a script: two); with the script gone
    from Redis (a restart, SCRIPT FLUSH) the request still passes and counts once."""
    from redis import Redis
    from redis.connection import AbstractConnection

    first, _second = apps
    _warm(first, token)
    limiter, limit = first.extensions["premia_api_limits"]
    token_id = next(iter(first.extensions["premia_api_tokens"].identities.values()))[0]
    window = limiter.storage.prefixed_key(limit.key_for("api", str(token_id)))
    redis = Redis.from_url(redis_url)
    sent: list[bytes] = []
    send = AbstractConnection.send_packed_command

    def spy(self, command, check_health=True):
        sent.append(b"".join(command) if isinstance(command, list) else command)
        return send(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", spy)
    hits = redis.llen(window)
    sent.clear()
    assert _send(first, "GET", "/program", token).status_code == 200
    assert len(sent) == 1, sent
    assert b"EVALSHA" in sent[0] and b"MGET" in sent[0]
    assert redis.llen(window) == hits + 1
    redis.script_flush()
    sent.clear()
    assert _send(first, "GET", "/program", token).status_code == 200
    assert [b"SCRIPT" in trip for trip in sent] == [False, True, False], sent
    assert redis.llen(window) == hits + 2


def _assert_twins_get_one_answer(app, secret, path, body) -> None:
    """Ten twins of one POST with one key, at once: all get the same 201 answer."""

    def work(_i):
        answer = _send(app, "POST", path, secret, json=body, key="race")
        return (answer.status_code, answer.get_data(as_text=True))

    results = run_together(app, 10, work)
    assert unexpected_errors(results) == []
    answers = {r[1] for r in results}
    assert len(answers) == 1, answers
    assert next(iter(answers))[0] == 201


@pytest.mark.postgres
def test_concurrent_retries_of_a_kept_token_write_once(apps, shop, token, db):
    first, _second = apps
    code = _customer(first, token)
    _warm(first, token)

    _assert_twins_get_one_answer(first, token, f"/customers/{code}/points", {"amount": "12000"})
    with db(shop) as session:
        member = get_member(session, code)
        assert session.scalar(select(func.count()).select_from(Entry)) == 1
        balance, entries, lots = audit_member(session, member.id)
    assert balance == entries == lots == 12


def test_a_kept_tokens_redemption_reads_its_answer_with_the_lock(apps, shop, token, db):
    # The redemption, like the earn, reads the answer stored for its key with the
    # member's lock, a live code included. A till's retry after the code's minute gets
    # the first answer (the redemption was made), not 404 `stale_live_code`.
    first, _second = apps
    code = _customer(first, token)
    with db(shop) as session:
        member = get_member(session, code)
        member.live_secret = live_codes.new_secret()
        ledger.earn(session, member, points=100, actor=Actor.staff(None))
        reward = create_reward(session, name="Café gratis", points=30, stock=5)
        session.commit()
        secret, body = member.live_secret, {"reward_id": reward.id}
    _warm(first, token)
    presented = live_codes.live_code(code, secret, utcnow().timestamp())
    path = f"/customers/{presented}/redemptions"
    with _statements(first) as seen:
        made = _send(first, "POST", path, token, json=body, key="r")
    assert made.status_code == 201, made.json
    sent = [s for s in seen if not s.startswith("BEGIN")]
    assert "api_idempotent_responses" in sent[0] and "FROM memberships" in sent[0], sent
    assert not [s for s in sent[1:] if s.startswith("SELECT") and "api_idempotent" in s]
    with clock_at(utcnow() + timedelta(minutes=3)):
        again = _send(first, "POST", path, token, json=body, key="r")
        fresh = _send(first, "POST", path, token, json=body, key="r-new")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == made.get_data()
    assert (fresh.status_code, fresh.json["reason"]) == (404, "stale_live_code")
    with db(shop) as session:
        assert get_member(session, code).balance == 70


@pytest.mark.postgres
def test_concurrent_retries_of_a_kept_tokens_redemption_redeem_once(apps, shop, token, db):
    # Twins of one redemption, the answer read with the member's lock: the one that
    # waited for the lock finds the first's redemption by its key and answers it.
    first, _second = apps
    code = _customer(first, token)
    with db(shop) as session:
        ledger.earn(session, get_member(session, code), points=100, actor=Actor.staff(None))
        reward = create_reward(session, name="Café gratis", points=30, stock=5)
        session.commit()
        reward_id = reward.id
    _warm(first, token)

    path = f"/customers/{code}/redemptions"
    _assert_twins_get_one_answer(first, token, path, {"reward_id": reward_id})
    with db(shop) as session:
        member = get_member(session, code)
        assert session.scalar(select(func.count()).select_from(Redemption)) == 1
        assert session.get(Reward, reward_id).stock == 4
        assert audit_member(session, member.id) == (70, 70, 70)
