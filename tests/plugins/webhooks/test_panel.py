"""Configuración → Webhooks: an owner creates an endpoint (the secret shown once), sends
a test event, reads the delivery log, re-sends, switches it off and on, edits and
deletes it; bad input answers the form in Spanish; employees may not; another
merchant's endpoint answers 404 and stays as it was."""

from __future__ import annotations

import html
import re

from sqlalchemy import select

from core.loyalty.staff import Role
from core.testing.weblogin import csrf_token, login
from plugins.webhooks.models import Endpoint
from tests.plugins.webhooks.conftest import url_of

SECRET = re.compile(r'<code id="new-secret">(whsec_[^<]+)</code>')


def text(answer) -> str:
    return html.unescape(answer.get_data(as_text=True))


def _create(client, slug, url, events=("points.earned",)):
    page = client.get(f"/t/{slug}/panel/webhooks/")
    data = {
        "csrf_token": csrf_token(page.get_data(as_text=True)),
        "url": url,
        "description": "ERP",
        "events": list(events),
    }
    return client.post(f"/t/{slug}/panel/webhooks/", data=data)


def test_owner_creates_tests_and_manages_an_endpoint(client, db, shop, receiver):
    receiver.expect_request("/hooks").respond_with_data("recibido")
    login(client, db, shop)
    settings = text(client.get("/t/cafe/panel/settings/"))
    assert "Webhooks para tus propios sistemas" in settings
    created = _create(client, "cafe", url_of(receiver))
    assert created.status_code == 200
    secret = SECRET.search(created.get_data(as_text=True)).group(1)
    with db(shop) as session:
        endpoint = session.scalars(select(Endpoint)).one()
        assert endpoint.secret == secret and endpoint.events == ["points.earned"]
    listing = text(client.get("/t/cafe/panel/webhooks/"))
    assert secret not in listing and url_of(receiver) in listing  # the secret shown once
    page = f"/t/cafe/panel/webhooks/{endpoint.id}"
    detail = client.get(page).get_data(as_text=True)
    assert secret not in detail
    tested = client.post(
        f"{page}/test", data={"csrf_token": csrf_token(detail)}, follow_redirects=True
    )
    shown = text(tested)
    assert "Evento de prueba enviado" in shown
    assert "webhook.test" in shown and "recibido" in shown and "200" in shown
    assert len(receiver.log) == 1
    delivery_id = re.search(r'id="delivery-(\d+)"', shown).group(1)
    client.post(f"{page}/deliveries/{delivery_id}/resend", data={"csrf_token": csrf_token(detail)})
    assert len(receiver.log) == 2
    assert receiver.log[0][0].headers["webhook-id"] == receiver.log[1][0].headers["webhook-id"]
    off = client.post(
        f"{page}/switch",
        data={"csrf_token": csrf_token(detail), "enabled": "0"},
        follow_redirects=True,
    )
    assert "Destino desactivado." in text(off)
    with db(shop) as session:
        assert not session.get(Endpoint, endpoint.id).enabled
    client.post(f"{page}/switch", data={"csrf_token": csrf_token(detail), "enabled": "1"})
    edited = client.post(
        page,
        data={
            "csrf_token": csrf_token(detail),
            "url": url_of(receiver),
            "description": "CRM",
            "events": ["member.created"],
        },
    )
    assert edited.status_code == 302
    with db(shop) as session:
        kept = session.get(Endpoint, endpoint.id)
        assert kept.enabled and kept.events == ["member.created"] and kept.description == "CRM"
    client.post(f"{page}/delete", data={"csrf_token": csrf_token(detail)})
    with db(shop) as session:
        assert session.scalars(select(Endpoint)).all() == []


def test_bad_input_answers_the_form_and_writes_nothing(client, db, shop):
    login(client, db, shop)
    refused = _create(client, "cafe", "ftp://example.com/x")
    assert refused.status_code == 422
    assert "Escribe una dirección completa" in text(refused)
    none = _create(client, "cafe", "https://example.com/x", events=())
    assert none.status_code == 422 and "Elige al menos un evento." in text(none)
    with db(shop) as session:
        assert session.scalars(select(Endpoint)).all() == []


def test_employees_may_not_open_it(client, db, shop):
    login(client, db, shop, Role.EMPLOYEE)
    assert client.get("/t/cafe/panel/webhooks/").status_code == 403


def test_another_merchants_endpoint_answers_404(client, db, shop, make_shop, make_endpoint):
    other = make_shop(slug="otra")
    theirs = make_endpoint(other, "https://erp.example.com/hooks")
    login(client, db, shop)
    token = csrf_token(client.get("/t/cafe/panel/webhooks/").get_data(as_text=True))
    base = f"/t/cafe/panel/webhooks/{theirs.id}"
    assert client.get(base).status_code == 404
    for path, data in (
        (base, {"url": "https://evil.example/", "events": ["points.earned"]}),
        (f"{base}/switch", {"enabled": "0"}),
        (f"{base}/test", {}),
        (f"{base}/delete", {}),
        (f"{base}/deliveries/1/resend", {}),
    ):
        assert client.post(path, data={"csrf_token": token, **data}).status_code == 404, path
    with db(other) as session:
        kept = session.scalars(select(Endpoint)).one()
        assert kept.enabled and kept.url == "https://erp.example.com/hooks"
