"""The v1 API's webhooks endpoints: CRUD with the scope `webhooks:write`, the secret
answered once, a test event, the delivery log and a re-send; bad input in the
merchant's language; another merchant's endpoint id answers 404 and changes nothing."""

from __future__ import annotations

from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from plugins.webhooks.models import Endpoint
from tests.plugins.webhooks.conftest import url_of
from tests.plugins.webhooks.helpers import give


def call(client, method, path, token, **kwargs):
    return client.open(
        "/api/v1/webhooks" + path,
        method=method,
        headers={"Authorization": f"Bearer {token}"},
        **kwargs,
    )


def test_create_list_change_and_delete(client, db, shop, make_token, receiver):
    token = make_token(shop, ["webhooks:write"])
    created = call(
        client,
        "POST",
        "/endpoints",
        token,
        json={"url": url_of(receiver), "events": ["points.earned", "member.created"]},
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["secret"].startswith("whsec_") and body["enabled"] is True
    assert body["events"] == ["member.created", "points.earned"]
    listed = call(client, "GET", "/endpoints", token).get_json()
    assert [e["id"] for e in listed] == [body["id"]] and "secret" not in listed[0]
    assert "secret" not in call(client, "GET", f"/endpoints/{body['id']}", token).get_json()
    changed = call(
        client,
        "PATCH",
        f"/endpoints/{body['id']}",
        token,
        json={"enabled": False, "description": "ERP"},
    )
    assert changed.status_code == 200
    assert changed.get_json()["enabled"] is False
    assert changed.get_json()["disabled_reason"] == "staff"
    assert call(client, "DELETE", f"/endpoints/{body['id']}", token).status_code == 204
    assert call(client, "GET", f"/endpoints/{body['id']}", token).status_code == 404


def test_bad_input_is_refused_in_the_merchants_language(client, shop, make_token):
    token = make_token(shop, ["webhooks:write"])
    for payload in (
        {"url": "ftp://x.example/h", "events": ["points.earned"]},
        {"url": "https://x.example/h", "events": []},
        {"url": "https://x.example/h", "events": ["nope"]},
        {"url": "https://x.example/h\u0000", "events": ["points.earned"]},
        {"url": "https://x.example/h", "events": ["points.earned"], "other": 1},
    ):
        answer = call(client, "POST", "/endpoints", token, json=payload)
        assert answer.status_code == 422, (payload, answer.get_json())
        assert answer.get_json()["reason"] == "invalid"
    answer = call(
        client, "POST", "/endpoints", token, json={"url": "ftp://x", "events": ["points.earned"]}
    )
    assert "Escribe una dirección completa" in answer.get_json()["errors"]["url"][0]
    assert call(client, "PATCH", "/endpoints/1", token, json={}).status_code in (404, 422)


def test_the_scope_is_required(client, shop, make_token):
    token = make_token(shop, ["points:write"])
    answer = call(client, "GET", "/endpoints", token)
    assert answer.status_code == 403 and answer.get_json()["reason"] == "missing_scope"
    assert call(client, "GET", "/endpoints", "prm_nope").status_code == 401


def test_test_event_log_and_resend(client, db, shop, make_token, receiver):
    receiver.expect_request("/hooks").respond_with_data("got it")
    token = make_token(shop, ["webhooks:write"])
    created = call(
        client,
        "POST",
        "/endpoints",
        token,
        json={"url": url_of(receiver), "events": ["points.earned"]},
    ).get_json()
    queued = call(client, "POST", f"/endpoints/{created['id']}/test", token)
    assert queued.status_code == 202
    request, _response = receiver.log[0]
    body = Webhook(created["secret"]).verify(request.get_data(), dict(request.headers))
    assert body["type"] == "webhook.test" and body["data"]["endpoint_id"] == created["id"]
    log = call(client, "GET", f"/endpoints/{created['id']}/deliveries", token).get_json()
    assert log[0]["message_id"] == queued.get_json()["message_id"]
    assert log[0]["status"] == "succeeded"
    assert log[0]["attempts"][0]["status_code"] == 200
    assert log[0]["attempts"][0]["response"] == "got it"
    again = call(
        client, "POST", f"/endpoints/{created['id']}/deliveries/{log[0]['id']}/resend", token
    )
    assert again.status_code == 202
    assert len(receiver.log) == 2
    assert receiver.log[1][0].headers["webhook-id"] == log[0]["message_id"]


def test_another_merchants_endpoint_answers_404_and_stays_as_it_was(
    client, db, make_shop, make_token, make_endpoint, make_member, receiver
):
    receiver.expect_request("/hooks").respond_with_data("ok")
    mine, theirs = make_shop(), make_shop()
    endpoint = make_endpoint(theirs, url_of(receiver))
    give(db, theirs, make_member(theirs))
    token = make_token(mine, ["webhooks:write"])
    for method, path, kwargs in (
        ("GET", f"/endpoints/{endpoint.id}", {}),
        ("PATCH", f"/endpoints/{endpoint.id}", {"json": {"enabled": False}}),
        ("DELETE", f"/endpoints/{endpoint.id}", {}),
        ("POST", f"/endpoints/{endpoint.id}/test", {}),
        ("GET", f"/endpoints/{endpoint.id}/deliveries", {}),
        ("POST", f"/endpoints/{endpoint.id}/deliveries/1/resend", {}),
    ):
        answer = call(client, method, path, token, **kwargs)
        assert answer.status_code == 404, (method, path, answer.get_json())
    assert call(client, "GET", "/endpoints", token).get_json() == []
    with db(theirs) as session:
        kept = session.scalars(select(Endpoint)).one()
        assert kept.enabled and kept.url == endpoint.url
    assert len(receiver.log) == 1


def test_a_merchant_without_the_plugin_gets_404(client, db, make_tenant, make_token, platform):
    shop = make_tenant(plan="white-label")
    with db(shop) as session:
        platform.plugins.switch(session, shop, "webhooks", False)
        session.commit()
    token = make_token(shop, ["webhooks:write"])
    assert call(client, "GET", "/endpoints", token).status_code == 404


def test_the_documents(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/webhooks/endpoints" in spec["paths"]
    assert "points.earned" in spec["x-webhooks"]
    events = client.get("/api/v1/webhooks/openapi.json").get_json()
    assert events["openapi"] == "3.1.0"
    assert set(events["webhooks"]) >= {"member.created", "purchase.returned", "survey.answered"}
