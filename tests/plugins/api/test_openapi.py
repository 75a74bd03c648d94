"""The API against its own OpenAPI document, driven by Schemathesis in-process.

Every operation gets generated requests (valid and not); no answer may be a
server error or break the documented schema, and the ledger's books must
balance after each one.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

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

from core.loyalty.program import update_program

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

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
    code = call(
        "POST",
        "/customers",
        token,
        json={"email": "fuzz@example.com", "first_name": "Fuzz", "last_name": "Test"},
    ).json["code"]
    call("POST", f"/customers/{code}/points", token, json={"points": 1000})
    reward_id = call(
        "POST", "/rewards", token, json={"name": "Café", "points": 10, "stock": 1000}
    ).json["id"]
    with db(shop) as session:
        update_program(session, {"customer_redemption_requests": True})
        session.commit()
    return {"code": code, "reward_id": reward_id, "token": token}


def test_the_api_keeps_its_contract(api_schema, seeded, platform):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 13  # every route of the contract is documented
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def exchange(case):
            params = case.path_parameters or {}
            if "code" in params:
                params["code"] = seeded["code"]  # random codes find only 404s, tested elsewhere
            if "reward_id" in params and params["reward_id"] % 2:
                params["reward_id"] = seeded["reward_id"]
            if isinstance(case.body, dict) and case.body.get("reward_id") == 1:
                case.body["reward_id"] = seeded["reward_id"]
            case.call_and_validate(
                headers={"Authorization": f"Bearer {seeded['token']}"}, checks=CHECKS
            )
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
    ("post", "/api/v1/redemptions/{redemption_id}/confirm"): ("confirm_redemption", "redemptions"),
    ("post", "/api/v1/redemptions/{redemption_id}/cancel"): ("cancel_redemption", "redemptions"),
    ("post", "/api/v1/customers/{code}/purchases"): ("record_purchase", "purchases"),
    ("post", "/api/v1/purchases/quote"): ("quote_purchase", "purchases"),
    ("post", "/api/v1/purchases/{reference}/returns"): ("return_purchase", "purchases"),
    ("post", "/api/v1/customers/{code}/payments"): ("pay_with_points", "purchases"),
    ("post", "/api/v1/customers/{code}/packs/{pack_id}/uses"): ("use_pack", "purchases"),
    # The webhooks plugin's, through the door (Api.add_plugin_endpoints).
    ("get", "/api/v1/webhooks/endpoints"): ("list_webhook_endpoints", "webhooks"),
    ("post", "/api/v1/webhooks/endpoints"): ("create_webhook_endpoint", "webhooks"),
    ("get", "/api/v1/webhooks/endpoints/{endpoint_id}"): ("get_webhook_endpoint", "webhooks"),
    ("patch", "/api/v1/webhooks/endpoints/{endpoint_id}"): ("update_webhook_endpoint", "webhooks"),
    ("delete", "/api/v1/webhooks/endpoints/{endpoint_id}"): ("delete_webhook_endpoint", "webhooks"),
    ("post", "/api/v1/webhooks/endpoints/{endpoint_id}/test"): (
        "test_webhook_endpoint",
        "webhooks",
    ),
    ("get", "/api/v1/webhooks/endpoints/{endpoint_id}/deliveries"): (
        "list_webhook_deliveries",
        "webhooks",
    ),
    ("post", "/api/v1/webhooks/endpoints/{endpoint_id}/deliveries/{delivery_id}/resend"): (
        "resend_webhook_delivery",
        "webhooks",
    ),
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
        "customers",
        "points",
        "purchases",
        "rewards",
        "redemptions",
        "program",
        "webhooks",
    ]


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
    assert schemas["PointsRequest"] == {
        "oneOf": [
            {"$ref": "#/components/schemas/PointsGrant"},
            {"$ref": "#/components/schemas/PurchaseAmount"},
        ]
    }
    assert (schemas["PointsGrant"]["required"], schemas["PurchaseAmount"]["required"]) == (
        ["points"],
        ["amount"],
    )
    assert "amount" not in schemas["PointsGrant"]["properties"]
    assert schemas["ProgramPatch"]["minProperties"] == schemas["RewardPatch"]["minProperties"] == 1
    amount = schemas["PurchaseAmount"]["properties"]["amount"]["anyOf"]
    assert amount[1]["exclusiveMinimum"] is True and amount[0]["pattern"].startswith("^([1-9]")
    create = schemas["CustomerCreate"]["properties"]
    assert "\\s" in create["first_name"]["pattern"] and "\\x00" in create["last_name"]["pattern"]
    assert create["birthday"]["pattern"].startswith("^(19[0-9]{2}|")
    assert "\\x00" in schemas["PointsGrant"]["properties"]["reference"]["pattern"]


def test_a_405_says_which_methods_are_allowed(call, token):
    answer = call("DELETE", "/customers", token)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "GET, HEAD, OPTIONS, POST"
    assert answer.json == {
        "status": 405,
        "reason": "method_not_allowed",
        "message": "Este método no está permitido aquí.",
    }
    assert call("PUT", "/rewards/1", token).headers["Allow"] == "OPTIONS, PATCH"


# --- from outside: Schemathesis's CLI and a generated client, over HTTP ------------

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def generated_client(live_api, tmp_path, monkeypatch):
    """openapi-python-client's package for the document the server serves, importable."""
    config = tmp_path / "config.yaml"
    config.write_text("package_name_override: premia_client\npost_hooks: []\n")
    subprocess.run(
        [
            str(Path(sys.executable).with_name("openapi-python-client")),
            "generate",
            "--url",
            f"{live_api}/api/v1/openapi.json",
            "--config",
            str(config),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / "premia_client"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module("premia_client")
    for name in [m for m in sys.modules if m.split(".")[0] == "premia_client"]:
        del sys.modules[name]


def test_a_generated_client_runs_a_whole_sale(generated_client, live_api, token):
    from premia_client.api.customers import create_customer, get_customer
    from premia_client.api.points import give_points
    from premia_client.api.redemptions import redeem_reward
    from premia_client.api.rewards import create_reward
    from premia_client.models import (
        CustomerCreate,
        PointsGrant,
        PurchaseAmount,
        RedemptionRequest,
        Reward,
    )

    client = generated_client.AuthenticatedClient(base_url=live_api, token=token)
    customer = create_customer.sync(
        client=client,
        idempotency_key="join-1",
        body=CustomerCreate(email="ana@example.com", first_name="Ana", last_name="Núñez"),
    )
    sale = PurchaseAmount(amount="45999.50", reference="F-1")
    first = give_points.sync_detailed(
        customer.code, client=client, body=sale, idempotency_key="sale-1"
    )
    assert first.status_code == 201
    assert (first.parsed.points, first.parsed.balance) == (45, 45)
    retry = give_points.sync_detailed(
        customer.code, client=client, body=sale, idempotency_key="sale-1"
    )
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.parsed.entry_id == first.parsed.entry_id
    other = give_points.sync_detailed(
        customer.code, client=client, body=PointsGrant(points=5), idempotency_key="sale-1"
    )
    assert (other.status_code, other.parsed.reason) == (409, "idempotency_key_reused")
    reward = create_reward.sync(
        client=client, body=Reward(name="Café", points=40, stock=3, active=True)
    )
    redemption = redeem_reward.sync(
        customer.code,
        client=client,
        idempotency_key="redeem-1",
        body=RedemptionRequest(reward_id=reward.id),
    )
    assert (redemption.points, redemption.balance, redemption.status) == (40, 5, "confirmed")
    assert get_customer.sync(customer.code, client=client).balance == 5  # counted once


def test_schemathesis_cli_finds_no_deviation(live_api, shop, token, tmp_path):
    """`st run` with every check and every phase (stateful included), as
    docs/api-testing.md runs it, bounded to 30 examples per operation."""
    st = Path(sys.executable).with_name("st")
    run = subprocess.run(
        [
            str(st),
            "run",
            f"{live_api}/api/v1/openapi.json",
            "--checks",
            "all",
            "--workers",
            "1",
            "--max-examples",
            "30",
            "--seed",
            "1",
            "--generation-database",
            "none",
            "--report-dir",
            str(tmp_path),
            "--header",
            f"Authorization: Bearer {token}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = run.stdout[run.stdout.rfind("SUMMARY") :]
    assert run.returncode == 0, run.stdout[-6000:]
    assert "Stateful" in summary and "failures" not in summary.lower(), summary
