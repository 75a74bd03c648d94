"""Signing in to the console: password, then the second factor (TOTP or a recovery code);
the console refuses anonymous and staff, and its session opens no merchant's panel."""

from __future__ import annotations

import limits
import pyotp
import pytest
from sqlalchemy import select

from core.host.db import platform_session, utcnow
from core.operator import accounts
from core.operator.models import AuditEntry, Operator, OperatorSession
from core.testing.weblogin import csrf_token, login
from tests.core.operator.conftest import enrol, form_token, next_code, post_password, text


def _routes(app):
    """Every console route with sample arguments, by method."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("operator."):
            continue
        values = {arg: ("1" if arg != "code" else "free") for arg in rule.arguments}
        path = rule.build(values, append_unknown=False)[1]
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found.append((method, path, rule.endpoint))
    return found


OPEN = {"operator.login", "operator.second_factor", "operator.enrol"}


def test_every_console_route_sends_anonymous_to_the_sign_in(app, client, platform):
    routes = _routes(app)
    assert len(routes) > 15
    for method, path, endpoint in routes:
        if endpoint in OPEN:
            continue
        answer = client.open(path, method=method)
        if method == "POST":  # refused by the CSRF check before anything else
            assert answer.status_code in (302, 400), (path, answer.status_code)
        else:
            assert answer.status_code == 302, (path, answer.status_code)
            assert answer.headers["Location"].endswith("/operator/login")
    with platform_session(platform.sessions) as session:
        assert session.scalars(select(AuditEntry)).all() == []


def test_a_staff_session_opens_no_console_page(app, client, make_tenant, db):
    shop = make_tenant()
    login(client, db, shop)  # the owner, signed in to their panel
    assert client.get(f"/t/{shop.slug}/panel/").status_code in (200, 302)
    token = csrf_token(client.get(f"/t/{shop.slug}/panel/locations/").get_data(as_text=True))
    for method, path, endpoint in _routes(app):
        if endpoint in OPEN:
            continue
        data = {"csrf_token": token} if method == "POST" else None
        answer = client.open(path, method=method, data=data)
        assert answer.status_code == 302, (path, answer.status_code)
        assert answer.headers["Location"].endswith("/operator/login")


def test_an_operator_session_opens_no_merchants_panel(console, make_tenant):
    shop = make_tenant()
    assert console.get("/operator/merchants").status_code == 200
    for path in (f"/t/{shop.slug}/panel/", f"/t/{shop.slug}/panel/customers/"):
        answer = console.get(path)
        assert answer.status_code == 302, path
        assert f"/t/{shop.slug}/login" in answer.headers["Location"]


def test_the_password_alone_opens_nothing(app, operator):
    client = app.test_client()
    assert post_password(client).status_code == 302
    # enrolment pending: every console page still sends to the sign-in
    answer = client.get("/operator/merchants")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/operator/login")


def test_a_wrong_password_is_refused_with_one_message(app, operator):
    client = app.test_client()
    answer = post_password(client, password="not-the-password")
    assert answer.status_code == 401
    assert "Correo electrónico o contraseña incorrectos." in text(answer)
    answer = post_password(client, email="nobody@premia.example")
    assert answer.status_code == 401


def test_enrolment_then_a_code_at_every_sign_in(app, operator, platform):
    client = app.test_client()
    secret, _codes = enrol(client)
    assert client.get("/operator/merchants").status_code == 200

    other = app.test_client()
    answer = post_password(other)
    assert answer.headers["Location"].endswith("/operator/code")  # enrolled: a code now
    token = form_token(other, "/operator/code")
    wrong = other.post("/operator/code", data={"code": "000000", "csrf_token": token})
    assert wrong.status_code == 401
    assert other.get("/operator/merchants").status_code == 302
    right = other.post("/operator/code", data={"code": next_code(secret), "csrf_token": token})
    assert right.status_code == 302
    assert other.get("/operator/merchants").status_code == 200


def test_a_code_works_once(app, console):
    code = next_code(console.secret)
    first, second = app.test_client(), app.test_client()
    for client in (first, second):
        post_password(client)
    token = form_token(first, "/operator/code")
    assert first.post("/operator/code", data={"code": code, "csrf_token": token}).status_code == 302
    token = form_token(second, "/operator/code")
    replay = second.post("/operator/code", data={"code": code, "csrf_token": token})
    assert replay.status_code == 401


def test_a_recovery_code_signs_in_once(app, console, platform):
    code = console.codes[0]
    client = app.test_client()
    post_password(client)
    token = form_token(client, "/operator/code")
    answer = client.post("/operator/code", data={"code": code.upper(), "csrf_token": token})
    assert answer.status_code == 302
    assert client.get("/operator/merchants").status_code == 200
    again = app.test_client()
    post_password(again)
    token = form_token(again, "/operator/code")
    assert again.post("/operator/code", data={"code": code, "csrf_token": token}).status_code == 401
    with platform_session(platform.sessions) as session:
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["enrol", "sign_in", "sign_in_recovery"]


def test_logout_ends_the_session_on_the_server(app, console, platform):
    cookie = console.client.get_cookie("session")
    assert console.post("/operator/logout").status_code == 302
    assert console.get("/operator/merchants").status_code == 302
    copy = app.test_client()  # a copy of the cookie taken before logout opens nothing
    copy.set_cookie("session", cookie.value, domain="localhost")
    assert copy.get("/operator/merchants").status_code == 302
    with platform_session(platform.sessions) as session:
        assert all(r.ended_at for r in session.scalars(select(OperatorSession)))


def test_the_console_is_not_served_on_a_brands_domain(app, console, make_tenant):
    make_tenant(slug="marca", domain="puntos.marca.example", plan="white-label")
    answer = console.client.get("/operator/merchants", headers={"Host": "puntos.marca.example"})
    assert answer.status_code == 404
    answer = console.client.get("/operator/login", headers={"Host": "puntos.marca.example"})
    assert answer.status_code == 404


def test_new_recovery_codes_replace_the_old_ones(app, console):
    page = console.post("/operator/account/recovery-codes")
    assert page.status_code == 200
    old = console.codes[1]
    client = app.test_client()
    post_password(client)
    token = form_token(client, "/operator/code")
    assert client.post("/operator/code", data={"code": old, "csrf_token": token}).status_code == 401


@pytest.mark.parametrize("language", ["es", "en", "pt_BR"])
def test_the_console_speaks_three_languages(app, console, language):
    header = {"Accept-Language": language.replace("_", "-")}
    page = text(console.client.get("/operator/health", headers=header))
    expected = {"es": "Salud", "en": "Health", "pt_BR": "Saúde"}[language]
    assert f"<h1>{expected}</h1>" in page


def test_the_totp_secret_is_a_real_authenticator_key(console):
    assert pyotp.TOTP(console.secret).now().isdigit()


def test_code_guesses_are_limited_per_operator_from_every_address(app, console, monkeypatch):
    limiter, _per_account, per_address = app.extensions["premia_login_limits"]
    five = limits.parse("5 per minute")
    monkeypatch.setitem(app.extensions, "premia_login_limits", (limiter, five, per_address))
    answers = []
    for n in range(7):  # each guess from an address of its own
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"203.0.113.{n + 1}"
        post_password(client)
        token = form_token(client, "/operator/code")
        answers.append(
            client.post("/operator/code", data={"code": "000000", "csrf_token": token}).status_code
        )
    assert answers[:5] == [401] * 5 and answers[5:] == [429, 429]


def test_the_totp_key_is_stored_sealed(console, platform):
    with platform_session(platform.sessions) as session:
        stored = session.scalars(select(Operator.totp_secret)).one()
    assert stored != console.secret and console.secret not in stored and len(stored) == 64


def test_a_key_stored_in_the_clear_still_works_and_is_sealed_when_used(app, operator, platform):
    key = pyotp.random_base32()
    with platform_session(platform.sessions) as session:
        row = session.get(Operator, operator.id)
        row.totp_secret, row.totp_confirmed_at = key, utcnow()  # as stored before sealing
        session.commit()
    client = app.test_client()
    post_password(client)
    token = form_token(client, "/operator/code")
    answer = client.post("/operator/code", data={"code": next_code(key), "csrf_token": token})
    assert answer.status_code == 302
    with platform_session(platform.sessions) as session:
        stored = session.get(Operator, operator.id).totp_secret
    assert len(stored) == 64 and accounts.totp_key(Operator(totp_secret=stored)) == key
