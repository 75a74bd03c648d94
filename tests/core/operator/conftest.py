"""The operator console's fixtures: an operator account, and a client signed in to the
console through its real forms (password, authenticator enrolment, code)."""

from __future__ import annotations

import html
import re
import time

import pyotp
import pytest

from core.host.db import platform_session
from core.operator.accounts import create_operator
from core.operator.models import Operator
from core.testing.factories import FreshContextClient
from core.testing.weblogin import csrf_token

OPERATOR_EMAIL = "ops@premia.example"
OPERATOR_PASSWORD = "operator-pass-42"
SECRET = re.compile(r'<code class="totp-secret">([A-Z2-7]+)</code>')
CODES = re.compile(r"<li><code>([0-9a-f]{5}-[0-9a-f]{5})</code></li>")


@pytest.fixture(autouse=True)
def _fresh_contexts(app):
    """Every client of these tests serves each request in an app context of its own."""
    app.test_client_class = FreshContextClient


@pytest.fixture
def operator(platform) -> Operator:
    with platform_session(platform.sessions) as session:
        created = create_operator(session, OPERATOR_EMAIL, OPERATOR_PASSWORD)
        session.commit()
        return created


def form_token(client, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    return csrf_token(page.get_data(as_text=True))


def post_password(client, email: str = OPERATOR_EMAIL, password: str = OPERATOR_PASSWORD):
    token = form_token(client, "/operator/login")
    return client.post(
        "/operator/login", data={"email": email, "password": password, "csrf_token": token}
    )


def next_code(secret: str, steps_ahead: int = 1) -> str:
    """A code of a later step than any used so far in the test (each code works once)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


class Console:
    """A signed-in console client, with the secret and recovery codes of its operator."""

    def __init__(self, client, secret: str, codes: list[str]) -> None:
        self.client = client
        self.secret = secret
        self.codes = codes

    def post(self, url: str, data: dict | None = None, page: str | None = None):
        token = form_token(self.client, page or "/operator/account")
        return self.client.post(url, data={**(data or {}), "csrf_token": token})

    def get(self, url: str):
        return self.client.get(url)


def enrol(client) -> tuple[str, list[str]]:
    """Give the password, scan the QR (read its key), confirm a code: (secret, codes)."""
    answer = post_password(client)
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/operator/enrol")
    page = client.get("/operator/enrol").get_data(as_text=True)
    secret = SECRET.search(page).group(1)
    assert "<svg" in page  # the QR code, drawn inline
    done = client.post(
        "/operator/enrol",
        data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_token(page)},
    )
    assert done.status_code == 200, done.get_data(as_text=True)
    codes = CODES.findall(done.get_data(as_text=True))
    assert len(codes) == 10
    return secret, codes


@pytest.fixture
def console(app, operator) -> Console:
    client = app.test_client()
    secret, codes = enrol(client)
    return Console(client, secret, codes)


def text(answer) -> str:
    return html.unescape(answer.get_data(as_text=True))
