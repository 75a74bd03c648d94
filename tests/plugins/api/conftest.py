"""Fixtures for the POS API: a merchant with the API, tokens, and a JSON caller."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from werkzeug.serving import make_server

from core.loyalty.program import update_program
from plugins.api import tokens


@pytest.fixture
def make_shop(make_tenant, db, platform) -> Callable[..., Any]:
    """A white-label merchant (the API is in its plan): 1 point per 1,000 COP, no e-mail."""

    def build(**fields: Any):
        fields.setdefault("plan", "white-label")
        tenant = make_tenant(**fields)
        with db(tenant) as session:
            update_program(session, {"points_per_amount": {"amount": "1000", "points": 1}})
            platform.plugins.switch(session, tenant, "notifications", False)
            session.commit()
        return tenant

    return build


@pytest.fixture
def shop(make_shop):
    return make_shop()


@pytest.fixture
def make_token(db) -> Callable[..., str]:
    def build(tenant, scopes: str | list[str] = "all", name: str = "Caja 1") -> str:
        with db(tenant) as session:
            _row, secret = tokens.create_token(
                session, name=name, scopes=tokens.parse_scopes(scopes)
            )
            session.commit()
        return secret

    return build


@pytest.fixture
def token(shop, make_token) -> str:
    return make_token(shop)


@pytest.fixture
def call(client) -> Callable[..., Any]:
    """`call("POST", "/customers", token, json={…}, key="k1")` → the test response."""

    def send(
        method: str,
        path: str,
        secret: str | None = None,
        *,
        json: Any = None,
        key: str | None = None,
        data: Any = None,
        headers: dict | None = None,
    ):
        headers = dict(headers or {})
        if secret is not None:
            headers["Authorization"] = f"Bearer {secret}"
        if key is not None:
            headers["Idempotency-Key"] = key
        kwargs: dict[str, Any] = {"headers": headers}
        if json is not None:
            kwargs["json"] = json
        if data is not None:
            kwargs["data"] = data
            kwargs["content_type"] = "application/json"
        return client.open("/api/v1" + path, method=method, **kwargs)

    return send


@pytest.fixture
def live_api(make_app):
    """The API served on 127.0.0.1 by a real HTTP server (no SERVER_NAME to match)."""
    served = make_app(SERVER_NAME=None, PREMIA_API_RATE_LIMIT="100000/minute")
    server = make_server("127.0.0.1", 0, served, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)
