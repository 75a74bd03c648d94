"""Mailed links come from the configuration (the platform's public address, or a brand's
own domain), never from the request's Host or X-Forwarded-Host; a request for a host
that is neither a platform host nor a brand's domain is refused before it mails anything."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from core.loyalty.staff import Role, StaffUser
from core.testing.factories import PASSWORD
from core.testing.weblogin import csrf_token, post_login
from core.web.links import external_url, public_base_url

LINK = re.compile(r"https?://[^\s\"<>]+")
PUBLIC = "https://puntos.premia.example"
BRAND = "club.marca.example"
EVIL = "evil.example"


def _text(message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")


def _links(messages) -> list[str]:
    return [link for message in messages for link in LINK.findall(message.as_string())]


def _owner_email(db, tenant) -> str:
    with db(tenant) as session:
        return session.scalar(select(StaffUser.email).where(StaffUser.role == Role.OWNER))


@pytest.fixture
def client(make_app):
    return make_app(PREMIA_PUBLIC_URL=PUBLIC, PREMIA_PROXIES=1).test_client()


@pytest.fixture
def shop(make_tenant):
    return make_tenant(slug="acme", name="Acme")


def _forged(client, how: str) -> dict:
    """Request arguments that forge the host: the Host header itself (with the session
    cookie carried over, as a copied cookie would be), or X-Forwarded-Host through the
    trusted proxy."""
    if how == "host":
        client.set_cookie("session", client.get_cookie("session").value, domain=EVIL)
        return {"base_url": f"http://{EVIL}"}
    return {"headers": {"X-Forwarded-Host": EVIL}}


# --- links from the configuration ------------------------------------------------------


def test_the_reset_link_is_on_the_public_address(client, shop, db, smtp_server):
    page = client.get("/t/acme/password/forgot").get_data(as_text=True)
    client.post(
        "/t/acme/password/forgot",
        data={"email": _owner_email(db, shop), "csrf_token": csrf_token(page)},
    )
    [link] = LINK.findall(_text(smtp_server.handler.wait_for(1)[0]))
    assert link.startswith(f"{PUBLIC}/t/acme/password/reset/")
    assert client.get(link.removeprefix(PUBLIC)).status_code == 200  # and it works


def test_the_signup_link_is_on_the_public_address(client, smtp_server):
    page = client.get("/signup/").get_data(as_text=True)
    client.post(
        "/signup/",
        data={
            "name": "Café",
            "slug": "cafe",
            "email": "ana@cafe.example",
            "password": "un-cafe-largo-9",
            "currency": "COP",
            "country": "CO",
            "timezone": "America/Bogota",
            "language": "es",
            "csrf_token": csrf_token(page),
        },
    )
    [link] = LINK.findall(_text(smtp_server.handler.wait_for(1)[0]))
    assert link.startswith(f"{PUBLIC}/signup/confirm/")


def test_a_brands_reset_link_is_on_its_own_domain(client, make_tenant, db, smtp_server):
    brand = make_tenant(slug="marca", name="Marca", plan="white-label", domain=BRAND)
    base = f"http://{BRAND}"
    page = client.get("/password/forgot", base_url=base).get_data(as_text=True)
    client.post(
        "/password/forgot",
        base_url=base,
        data={"email": _owner_email(db, brand), "csrf_token": csrf_token(page)},
    )
    [link] = LINK.findall(_text(smtp_server.handler.wait_for(1)[0]))
    assert link.startswith(f"https://{BRAND}/password/reset/")
    path = link.removeprefix(f"https://{BRAND}")
    assert client.get(path, base_url=base).status_code == 200


def test_without_configuration_links_start_at_the_first_platform_host(make_app):
    app = make_app(PREMIA_PLATFORM_HOSTS=["premia.example", "localhost"])
    with app.app_context():
        assert public_base_url() == "http://premia.example"
        assert external_url("signup.confirm", token="abc") == (
            "http://premia.example/signup/confirm/abc"
        )


def test_links_keep_the_public_address_path(make_app, shop):
    app = make_app(PREMIA_PUBLIC_URL="https://example.org/premia/")
    with app.app_context():
        assert external_url("t.password.reset", shop, token="abc") == (
            "https://example.org/premia/t/acme/password/reset/abc"
        )


# --- a forged host mails nothing -------------------------------------------------------


@pytest.mark.parametrize("how", ["host", "forwarded"])
def test_a_reset_asked_under_a_forged_host_is_refused(client, shop, db, smtp_server, how):
    page = client.get("/t/acme/password/forgot").get_data(as_text=True)
    answer = client.post(
        "/t/acme/password/forgot",
        **_forged(client, how),
        data={"email": _owner_email(db, shop), "csrf_token": csrf_token(page)},
    )
    assert answer.status_code == 400
    assert smtp_server.handler.wait_for(1, timeout=0.5) == []


@pytest.mark.parametrize("how", ["host", "forwarded"])
def test_a_signup_under_a_forged_host_is_refused(client, smtp_server, how):
    page = client.get("/signup/").get_data(as_text=True)
    answer = client.post(
        "/signup/",
        **_forged(client, how),
        data={
            "name": "Café",
            "slug": "cafe",
            "email": "ana@cafe.example",
            "password": "un-cafe-largo-9",
            "currency": "COP",
            "country": "CO",
            "timezone": "America/Bogota",
            "language": "es",
            "csrf_token": csrf_token(page),
        },
    )
    assert answer.status_code == 400
    assert smtp_server.handler.wait_for(1, timeout=0.5) == []


@pytest.mark.parametrize("how", ["host", "forwarded"])
def test_an_invitation_under_a_forged_host_is_refused(client, shop, db, smtp_server, how):
    # The invitation and the notifications plugin's welcome e-mail both follow from it.
    assert post_login(client, "acme", _owner_email(db, shop), PASSWORD).status_code == 302
    url = "/t/acme/panel/customers/invite"
    token = csrf_token(client.get(url).get_data(as_text=True))
    answer = client.post(
        url, **_forged(client, how), data={"csrf_token": token, "email": "marta@mail.example"}
    )
    assert answer.status_code == 400
    assert smtp_server.handler.wait_for(1, timeout=0.5) == []
    # The same invitation on the platform's host mails both, with no link to a forged host.
    client.post(url, data={"csrf_token": token, "email": "marta@mail.example"})
    messages = smtp_server.handler.wait_for(2)
    assert len(messages) == 2
    assert not [link for link in _links(messages) if EVIL in link]
