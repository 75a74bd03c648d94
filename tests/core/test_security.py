"""Security headers on every answer; a Secure session cookie and HSTS over HTTPS only."""

from __future__ import annotations

import re

import pytest

from core.testing.factories import PASSWORD
from core.testing.weblogin import post_login

OWNER = "duena@acme.example"


@pytest.fixture
def shop(make_tenant):
    return make_tenant(slug="acme", name="Acme", owner_email=OWNER, plan="white-label")


@pytest.fixture
def client(make_app):
    return make_app().test_client()


def _directives(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in policy.split(";")}


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/signup/",
        "/t/acme/login",
        "/t/acme/panel/",
        "/t/acme/panel/customers/",
        "/t/acme/panel/loyalty/",
        "/api/v1/docs",
        "/api/v1/openapi.json",
        "/healthz",
        "/themes/default/static/premia.css",
        "/t/acme/no-such-page",
    ],
)
def test_every_answer_carries_the_security_headers(shop, client, path):
    assert post_login(client, "acme", OWNER, PASSWORD).status_code == 302
    response = client.get(path)
    assert response.status_code in (200, 404), (path, response.status_code)
    csp = _directives(response)
    assert csp["default-src"] == "default-src 'self'"
    assert csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
    assert "'unsafe-inline'" not in csp["style-src"]
    assert csp["object-src"] == "object-src 'none'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_inline_code_runs_only_with_this_answers_nonce(shop, client):
    first, second = client.get("/t/acme/login"), client.get("/t/acme/login")
    nonces = []
    for response in (first, second):
        nonce = re.search(r"'nonce-([^']+)'", _directives(response)["script-src"]).group(1)
        assert f"'nonce-{nonce}'" in _directives(response)["style-src"]
        page = response.get_data(as_text=True)
        # every inline <style> or <script> of the page carries it; no style="" attribute
        inline = re.findall(r"<(?:style|script)(?![^>]*\ssrc=)[^>]*>", page)
        assert inline and all(f'nonce="{nonce}"' in tag for tag in inline), inline
        assert " style=" not in page
        nonces.append(nonce)
    assert nonces[0] != nonces[1]


def _session_cookie(response) -> str:
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    return cookie


def test_over_https_behind_a_trusted_proxy_the_cookie_is_secure_and_hsts_is_sent(shop, make_app):
    client = make_app(PREMIA_PROXIES=1).test_client()
    response = client.get("/t/acme/login", headers={"X-Forwarded-Proto": "https"})
    assert "; Secure" in _session_cookie(response)
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_served_over_https_directly_the_cookie_is_secure_and_hsts_is_sent(shop, client):
    response = client.get("/t/acme/login", base_url="https://localhost")
    assert "; Secure" in _session_cookie(response)
    assert "Strict-Transport-Security" in response.headers


@pytest.mark.parametrize("proxies", [0, 1])
def test_over_plain_http_neither(shop, make_app, proxies):
    client = make_app(PREMIA_PROXIES=proxies).test_client()
    # Without a trusted proxy, a client's own X-Forwarded-Proto changes nothing.
    headers = {"X-Forwarded-Proto": "https"} if not proxies else {}
    response = client.get("/t/acme/login", headers=headers)
    assert "; Secure" not in _session_cookie(response)
    assert "Strict-Transport-Security" not in response.headers
