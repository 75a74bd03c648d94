"""The API against its own OpenAPI document, driven by Schemathesis in-process.

Every operation gets generated requests (valid and not); no answer may be a
server error or break the documented schema, and the ledger's books must
balance after each one.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import text

from core.program import update_program

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]

# Members whose cached balance, sum of entries and sum of remaining lots disagree.
UNBALANCED = text("""
    SELECT m.id FROM memberships m
    LEFT JOIN (SELECT member_id, sum(points) AS s FROM ledger_entries GROUP BY member_id) e
           ON e.member_id = m.id
    LEFT JOIN (SELECT member_id, sum(remaining) AS s FROM ledger_lots GROUP BY member_id) l
           ON l.member_id = m.id
    WHERE m.balance <> coalesce(e.s, 0) OR m.balance <> coalesce(l.s, 0) OR m.balance < 0
""")


@pytest.fixture
def api_schema(app):
    def wsgi(environ, start_response):  # a fresh app context per request, as in production
        with app.app_context():
            return app(environ, start_response)

    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", wsgi)


@pytest.fixture
def seeded(shop, token, call, db):
    """A customer with points, a reward with stock and a pending request to aim at."""
    code = call("POST", "/customers", token, json={
        "email": "fuzz@example.com", "first_name": "Fuzz", "last_name": "Test"}).json["code"]
    call("POST", f"/customers/{code}/points", token, json={"points": 1000})
    reward_id = call("POST", "/rewards", token,
                     json={"name": "Café", "points": 10, "stock": 1000}).json["id"]
    with db(shop) as session:
        update_program(session, {"customer_redemption_requests": True})
        session.commit()
    return {"code": code, "reward_id": reward_id, "token": token}


def test_the_api_keeps_its_contract(api_schema, seeded, platform):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 13  # every route of the contract is documented
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), database=None)
        def exchange(case):
            params = case.path_parameters or {}
            if "code" in params:
                params["code"] = seeded["code"]  # random codes find only 404s, tested elsewhere
            if "reward_id" in params and params["reward_id"] % 2:
                params["reward_id"] = seeded["reward_id"]
            if isinstance(case.body, dict) and case.body.get("reward_id") == 1:
                case.body["reward_id"] = seeded["reward_id"]
            case.call_and_validate(headers={"Authorization": f"Bearer {seeded['token']}"},
                                   checks=CHECKS)
            with platform.engine.connect() as connection:
                assert connection.execute(UNBALANCED).all() == []

        exchange()


# --- the document, for clients generated from it ---------------------------

OPERATIONS = {
    ("get", "/api/v1/program"): ("get_program", "program"),
    ("patch", "/api/v1/program"): ("update_program", "program"),
    ("get", "/api/v1/customers"): ("list_customers", "customers"),
    ("post", "/api/v1/customers"): ("create_customer", "customers"),
    ("get", "/api/v1/customers/{code}"): ("get_customer", "customers"),
    ("post", "/api/v1/customers/{code}/points"): ("give_points", "points"),
    ("get", "/api/v1/customers/{code}/entries"): ("list_entries", "points"),
    ("get", "/api/v1/rewards"): ("list_rewards", "rewards"),
    ("post", "/api/v1/rewards"): ("create_reward", "rewards"),
    ("patch", "/api/v1/rewards/{reward_id}"): ("update_reward", "rewards"),
    ("post", "/api/v1/customers/{code}/redemptions"): ("redeem_reward", "redemptions"),
    ("post", "/api/v1/redemptions/{redemption_id}/confirm"): ("confirm_redemption",
                                                              "redemptions"),
    ("post", "/api/v1/redemptions/{redemption_id}/cancel"): ("cancel_redemption", "redemptions"),
}


@pytest.fixture
def document(client):
    return client.get("/api/v1/openapi.json").json


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "patch", "put", "delete"}:
                yield (method, path), operation


def test_every_operation_has_an_id_and_a_resource_tag(document):
    found = {key: (op.get("operationId"), op.get("tags")) for key, op in _operations(document)}
    assert found == {key: (op_id, [tag]) for key, (op_id, tag) in OPERATIONS.items()}
    assert [tag["name"] for tag in document["tags"]] == [
        "customers", "points", "rewards", "redemptions", "program"]


def test_every_post_declares_the_idempotency_key_and_every_429_its_retry_after(document):
    for (method, path), operation in _operations(document):
        headers = [p for p in operation.get("parameters", []) if p["in"] == "header"]
        if method == "post":
            assert [h["name"] for h in headers] == ["Idempotency-Key"], path
            assert headers[0]["schema"]["maxLength"] == 180
        else:
            assert headers == [], path
        assert "Retry-After" in operation["responses"]["429"]["headers"], (method, path)


def test_every_operation_with_a_body_documents_invalid_json_and_too_large(document):
    for (method, path), operation in _operations(document):
        documented = set(operation["responses"])
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= documented, (method, path)
            assert "invalid_json" in operation["responses"]["400"]["description"]
        else:
            assert not {"400", "413"} & documented, (method, path)


def test_the_document_says_what_is_refused(document):
    schemas = document["components"]["schemas"]
    assert schemas["PointsRequest"]["anyOf"] == [{"required": ["points"]},
                                                 {"required": ["amount"]}]
    assert schemas["PointsRequest"]["not"] == {"required": ["points", "amount"]}
    assert schemas["ProgramPatch"]["minProperties"] == schemas["RewardPatch"]["minProperties"] == 1
    amount = schemas["PointsRequest"]["properties"]["amount"]["anyOf"]
    assert amount[1]["exclusiveMinimum"] is True and amount[0]["pattern"].startswith("^([1-9]")
    create = schemas["CustomerCreate"]["properties"]
    assert "\\s" in create["first_name"]["pattern"] and "\\x00" in create["last_name"]["pattern"]
    assert create["birthday"]["pattern"].startswith("^(19[0-9]{2}|")
    assert "\\x00" in schemas["PointsRequest"]["properties"]["reference"]["pattern"]


def test_a_405_says_which_methods_are_allowed(call, token):
    answer = call("DELETE", "/customers", token)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "GET, HEAD, OPTIONS, POST"
    assert answer.json == {"status": 405, "reason": "method_not_allowed",
                           "message": "Este método no está permitido aquí."}
    assert call("PUT", "/rewards/1", token).headers["Allow"] == "OPTIONS, PATCH"
