"""Who may call the API: tokens, plans, scopes, rate limits, and tenants kept apart."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from core.loyalty.ledger import Entry
from core.loyalty.members import Membership
from core.loyalty.purchases import Purchase
from core.loyalty.rewards import Redemption, Reward
from core.testing.factories import FreshContextClient
from plugins.api import tokens
from plugins.api.models import ApiToken

# Every route of the contract, with a body that would succeed for the right tenant.
ROUTES = [
    ("GET", "/program", None),
    ("PATCH", "/program", {"welcome_points": 5}),
    ("GET", "/customers", None),
    ("POST", "/customers", {"email": "x@example.com", "first_name": "X", "last_name": "Y"}),
    ("GET", "/customers/{code}", None),
    ("POST", "/customers/{code}/points", {"points": 10}),
    ("GET", "/customers/{code}/entries", None),
    ("GET", "/rewards", None),
    ("POST", "/rewards", {"name": "Té", "points": 10, "stock": 3}),
    ("PATCH", "/rewards/{reward_id}", {"stock": 1}),
    ("POST", "/customers/{code}/redemptions", {"reward_id": "{reward_id}"}),
    ("POST", "/redemptions/{redemption_id}/confirm", None),
    ("POST", "/redemptions/{redemption_id}/cancel", None),
]


@pytest.fixture
def victim(make_shop, make_token, call, db):
    """A merchant with a customer, points, a reward and a pending request: the target."""
    from core.loyalty import rewards
    from core.loyalty.members import get_member
    from core.loyalty.program import update_program

    shop = make_shop()
    secret = make_token(shop)
    code = call(
        "POST",
        "/customers",
        secret,
        json={"email": "victima@example.com", "first_name": "Vic", "last_name": "Tima"},
    ).json["code"]
    call("POST", f"/customers/{code}/points", secret, json={"points": 500})
    reward_id = call(
        "POST", "/rewards", secret, json={"name": "Café", "points": 100, "stock": 5}
    ).json["id"]
    with db(shop) as session:
        update_program(session, {"customer_redemption_requests": True})
        redemption = rewards.request_reward(
            session, get_member(session, code), rewards.get_reward(session, reward_id)
        )
        session.commit()
        redemption_id = redemption.id
    return {"tenant": shop, "code": code, "reward_id": reward_id, "redemption_id": redemption_id}


def _fill(path: str, body, ids: dict):
    path = path.format(**ids)
    if body is not None:
        body = {
            k: (int(v.format(**ids)) if isinstance(v, str) and v.startswith("{") else v)
            for k, v in body.items()
        }
    return path, body


def _counts(db, tenant):
    with db(tenant) as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model))
            for model in (Membership, Entry, Purchase, Reward, Redemption)
        )


@pytest.mark.parametrize("method, path, body", ROUTES)
def test_another_merchants_token_reaches_nothing(
    call, victim, make_shop, make_token, db, method, path, body
):
    intruder = make_token(make_shop())
    names_the_victims_rows = "{" in path or any(
        isinstance(value, str) and value.startswith("{") for value in (body or {}).values()
    )
    before = _counts(db, victim["tenant"])
    path, body = _fill(path, body, victim)
    answer = call(method, path, intruder, json=body)
    if names_the_victims_rows:
        assert answer.status_code == 404, (path, answer.json)
    else:  # a route without ids answers about the intruder's own merchant
        assert answer.status_code in (200, 201), (path, answer.json)
        assert "victima@example.com" not in answer.get_data(as_text=True)
        assert "Café" not in answer.get_data(as_text=True)
    assert _counts(db, victim["tenant"]) == before
    with db(victim["tenant"]) as session:
        assert session.scalar(select(Membership.balance)) == 400  # 500 − the held request


@pytest.mark.parametrize("method, path, body", ROUTES)
def test_every_route_needs_a_token(call, victim, method, path, body):
    path, body = _fill(path, body, victim)
    missing = call(method, path, json=body)
    assert (missing.status_code, missing.json["reason"]) == (401, "unauthorized")
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    unknown = call(method, path, "prm_" + "x" * 43, json=body)
    assert unknown.status_code == 401
    wrong_scheme = call(method, path, json=body, headers={"Authorization": "Basic YTpi"})
    assert wrong_scheme.status_code == 401


def test_a_revoked_token_fails_on_its_next_request(call, shop, token, db):
    assert call("GET", "/program", token).status_code == 200
    with db(shop) as session:
        row = session.scalars(select(ApiToken)).one()
        tokens.revoke_token(session, row.id)
        session.commit()
    refused = call("GET", "/program", token)
    assert (refused.status_code, refused.json["reason"]) == (401, "unauthorized")


def test_last_use_is_recorded(call, shop, token, db):
    with db(shop) as session:
        assert session.scalars(select(ApiToken)).one().last_used_at is None
    call("GET", "/program", token)
    with db(shop) as session:
        assert session.scalars(select(ApiToken)).one().last_used_at is not None


def test_only_the_hash_of_a_token_is_stored(shop, token, db):
    with db(shop) as session:
        row = session.scalars(select(ApiToken)).one()
    assert token.startswith("prm_") and len(token) > 40
    assert row.token_hash == tokens.hash_token(token) and token not in (row.token_hash,)
    assert token.startswith(row.prefix)


def test_a_plan_without_the_api_is_refused(call, make_shop, make_token):
    free = make_shop(plan="free")
    answer = call("GET", "/program", make_token(free))
    assert (answer.status_code, answer.json["reason"]) == (403, "api_not_enabled")


def test_a_merchant_that_switched_the_api_off_is_refused(call, shop, token, db, platform):
    with db(shop) as session:
        platform.plugins.switch(session, shop, "api", False)
        session.commit()
    assert call("GET", "/program", token).status_code == 403
    with db(shop) as session:
        platform.plugins.switch(session, shop, "api", True)
        session.commit()
    assert call("GET", "/program", token).status_code == 200


@pytest.mark.parametrize(
    "method, path, body, scope",
    [
        ("PATCH", "/program", {"welcome_points": 5}, "program:write"),
        ("POST", "/rewards", {"name": "Té", "points": 10, "stock": 3}, "rewards:write"),
        (
            "POST",
            "/customers",
            {"email": "x@example.com", "first_name": "X", "last_name": "Y"},
            "customers:write",
        ),
    ],
)
def test_a_token_without_the_scope_is_refused(call, shop, make_token, method, path, body, scope):
    others = sorted(set(tokens.SCOPES) - {scope})
    limited = make_token(shop, scopes=others)
    refused = call(method, path, limited, json=body)
    assert (refused.status_code, refused.json["reason"]) == (403, "missing_scope")
    assert scope in refused.json["message"]
    assert call(method, path, make_token(shop, scopes=[scope]), json=body).status_code in (200, 201)


def test_points_and_redemptions_need_their_scopes(call, shop, make_token, token):
    code = call(
        "POST",
        "/customers",
        token,
        json={"email": "a@example.com", "first_name": "A", "last_name": "B"},
    ).json["code"]
    reader = make_token(shop, scopes=["customers:write"])
    assert call("POST", f"/customers/{code}/points", reader, json={"points": 5}).status_code == 403
    assert (
        call("POST", f"/customers/{code}/redemptions", reader, json={"reward_id": 1}).status_code
        == 403
    )
    assert call("GET", f"/customers/{code}", reader).status_code == 200  # reads need none


def test_rate_limit_answers_429_with_retry_after(make_app, shop, make_token):
    secret, other = make_token(shop), make_token(shop, name="Caja 2")
    limited_app = make_app(PREMIA_API_RATE_LIMIT="3/minute")
    limited_app.test_client_class = FreshContextClient
    client = limited_app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    statuses = [client.get("/api/v1/program", headers=headers).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.get("/api/v1/program", headers=headers)
    assert limited.json["reason"] == "too_many_requests"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # the limit is per token: another token of the same merchant still works
    assert (
        client.get("/api/v1/program", headers={"Authorization": f"Bearer {other}"}).status_code
        == 200
    )


def test_the_api_is_served_on_a_brands_own_domain(call, make_shop, make_token, client):
    brand = make_shop(domain="puntos.marca.example")
    secret = make_token(brand)
    answer = client.get(
        "/api/v1/program",
        headers={"Authorization": f"Bearer {secret}", "Host": "puntos.marca.example"},
    )
    assert answer.status_code == 200 and answer.json["currency"] == "COP"


def test_the_settings_read_with_the_token_are_the_merchants_own_and_current(
    call, make_shop, make_token, platform
):
    """Every settings namespace comes with the token (no statement of its own): each
    merchant's rules apply, and a change applies from the next request on."""
    shops = [make_shop(), make_shop()]
    secrets = [make_token(s) for s in shops]
    triple = {"points_per_amount": {"amount": "1000", "points": 3}}
    assert call("PATCH", "/program", secrets[1], json=triple).status_code == 200
    person = {"email": "a@x.co", "first_name": "A", "last_name": "B"}
    codes = [call("POST", "/customers", s, json=person).json["code"] for s in secrets]
    sent: list[str] = []

    def record(_conn, _cursor, sql, *_args):
        sent.append(sql)

    event.listen(platform.engine, "before_cursor_execute", record)
    try:
        earned = [
            call("POST", f"/customers/{code}/points", secret, json={"amount": "10000"})
            for code, secret in zip(codes, secrets, strict=True)
        ]
    finally:
        event.remove(platform.engine, "before_cursor_execute", record)
    assert [answer.json["points"] for answer in earned] == [10, 30]
    assert sent and not [sql for sql in sent if sql.lstrip().startswith("SELECT tenant_settings")]
    double = {"points_per_amount": {"amount": "1000", "points": 2}}
    assert call("PATCH", "/program", secrets[0], json=double).status_code == 200
    again = call("POST", f"/customers/{codes[0]}/points", secrets[0], json={"amount": "10000"})
    assert again.json["points"] == 20
