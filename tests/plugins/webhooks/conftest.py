"""Fixtures for webhooks: an app whose deliveries may reach this machine (the receiver
the test starts), a white-label merchant, endpoints, and a real HTTP receiver."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from plugins.api import tokens
from plugins.webhooks import endpoints

LOCAL = {
    "PREMIA_WEBHOOKS_ALLOW_PRIVATE": True,
    "PREMIA_WEBHOOKS_HTTPS_ONLY": False,
    "PREMIA_WEBHOOKS_TIMEOUT": 0.5,
}


@pytest.fixture
def app(make_app):
    """The app, its webhooks allowed to reach the test's receiver on 127.0.0.1."""
    application = make_app(**LOCAL)
    with application.app_context():
        yield application


@pytest.fixture
def make_shop(make_tenant, db, platform) -> Callable[..., Any]:
    """A white-label merchant (webhooks and the API in its plan), without e-mails to
    members (only the merchant's own)."""

    def build(**fields: Any):
        fields.setdefault("plan", "white-label")
        tenant = make_tenant(**fields)
        with db(tenant) as session:
            platform.plugins.switch(session, tenant, "notifications", False)
            session.commit()
        return tenant

    return build


@pytest.fixture
def shop(make_shop):
    return make_shop(slug="cafe")


@pytest.fixture
def receiver(httpserver: HTTPServer) -> HTTPServer:
    return httpserver


def url_of(server: HTTPServer, path: str = "/hooks") -> str:
    # By address: "localhost" may resolve to ::1 first, where the server does not listen.
    return f"http://127.0.0.1:{server.port}{path}"


@pytest.fixture
def make_endpoint(db) -> Callable[..., Any]:
    def build(tenant, url: str, events: list[str] | None = None):
        with db(tenant) as session:
            endpoint = endpoints.create(session, url, events or ["points.earned"], "ERP")
            session.commit()
            return endpoint

    return build


@pytest.fixture
def make_token(db) -> Callable[..., str]:
    def build(tenant, scopes: str | list[str] = "all") -> str:
        with db(tenant) as session:
            _row, secret = tokens.create_token(
                session, name="ERP", scopes=tokens.parse_scopes(scopes)
            )
            session.commit()
        return secret

    return build
