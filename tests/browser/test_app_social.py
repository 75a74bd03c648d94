"""Google and Facebook sign-in in a real browser on a phone: the customer app's button,
the local OpenID provider's consent page (Facebook's dialog: our local OAuth2 server,
which consents at once), and back on the app signed in; on the shared app and on a
merchant's pages. No page of ours scrolls sideways or breaks the CSP."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select

from core.host.db import platform_session
from core.loyalty.members import Customer, Membership
from core.loyalty.program import update_program
from tests.browser.conftest import PHONE, csp_violations, shoot
from tests.core.customer_app import providers
from tests.core.customer_app.providers import FakeFacebook

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning:authlib"
)  # the local provider's
REACH = "document.documentElement.scrollWidth"
LINK = re.compile(r"https?://\S+/app/confirm/[\w.\-]+")


@pytest.fixture(scope="module")
def google():
    with providers.google_provider() as url:
        yield url


@pytest.fixture
def facebook():
    with FakeFacebook() as server:
        yield server


@pytest.fixture
def app(make_app, google, facebook):
    application = make_app(SERVER_NAME=None, **providers.config(google, facebook))
    with application.app_context():
        yield application


def _phone(browser) -> BrowserContext:
    context = browser.new_context(**PHONE, locale="es-CO")
    # The provider's page styles itself from a CDN: not reachable here, not needed.
    context.route(re.compile(r"^https://cdn\.jsdelivr\.net/"), lambda route: route.abort())
    return context


def _consent(page: Page, google: str, sub: str) -> None:
    expect(page).to_have_url(re.compile(rf"^{re.escape(google)}/oauth2/authorize"))
    page.get_by_placeholder("sub").fill(sub)
    page.get_by_role("button", name="Authorize").click()


def _fits(page: Page) -> None:
    assert page.evaluate(REACH) <= PHONE["viewport"]["width"], page.url


def test_google_sign_in_ends_on_the_apps_home_signed_in(live_server, browser, google, platform):
    providers.google_person(
        google, "g-ana", email="ana@mail.example", email_verified=True, given_name="Ana"
    )
    context = _phone(browser)
    refused = csp_violations(context)
    page = context.new_page()
    page.goto(f"{live_server.url}/app/login")
    _fits(page)
    shoot(page, "app-social-login")
    page.get_by_role("link", name="Continuar con Google").click()
    _consent(page, google, "g-ana")
    expect(page).to_have_url(f"{live_server.url}/app/")
    expect(page.get_by_role("heading", name="Mis tarjetas")).to_be_visible()
    expect(page.get_by_role("button", name="Cerrar sesión")).to_be_visible()
    page.get_by_role("link", name="Formas de ingresar").click()
    expect(page.locator("#method-google")).to_contain_text("ana@mail.example")
    _fits(page)
    shoot(page, "app-social-methods")
    with platform_session(platform.sessions) as session:
        ana = session.scalar(select(Customer).where(Customer.email == "ana@mail.example"))
        assert ana is not None and ana.email_confirmed_at is not None
    assert refused == []
    context.close()


def test_google_sign_up_on_a_merchants_pages_lands_on_the_card(
    live_server, browser, google, platform, make_tenant, db
):
    cafe = make_tenant(slug="cafe", name="Café La Esquina")
    with db(cafe) as session:
        update_program(session, {"welcome_points": 20})
        session.commit()
    providers.google_person(google, "g-eva", email="eva@mail.example", email_verified=True)
    context = _phone(browser)
    refused = csp_violations(context)
    page = context.new_page()
    page.goto(f"{live_server.url}/t/cafe/app/")  # a visitor: asked to sign in first
    page.get_by_role("link", name="Continuar con Google").click()
    _consent(page, google, "g-eva")
    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server.url)}/t/cafe/app/\??$"))
    with db(cafe) as session:
        code = session.scalars(select(Membership.code)).one()
    expect(page.locator(".app-card .code")).to_have_text(code)
    expect(page.locator(".app-card .points")).to_contain_text("20")
    _fits(page)
    shoot(page, "app-social-card")
    assert refused == []
    context.close()


def _mail_text(message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")


def test_facebook_sign_up_confirms_by_e_mail_then_signs_in_with_one_tap(
    live_server, browser, facebook, platform, smtp_server
):
    facebook.person = {"id": "fb-rosa", "name": "Rosa María Gil", "email": "rosa@mail.example"}
    context = _phone(browser)
    refused = csp_violations(context)
    page = context.new_page()
    page.goto(f"{live_server.url}/app/login")
    page.get_by_role("link", name="Continuar con Facebook").click()
    # The Graph does not say the e-mail is verified: the account waits for its link.
    expect(page.get_by_role("heading", name="Revisa tu correo")).to_be_visible()
    _fits(page)
    shoot(page, "app-social-facebook-check-mail")
    (mail,) = smtp_server.handler.wait_for(1)
    assert mail["To"] == "rosa@mail.example"
    page.goto(LINK.search(_mail_text(mail)).group(0))
    expect(page.get_by_role("heading", name="Mis tarjetas")).to_be_visible()
    with platform_session(platform.sessions) as session:
        rosa = session.scalar(select(Customer).where(Customer.email == "rosa@mail.example"))
        assert rosa.email_confirmed_at is not None
        assert (rosa.first_name, rosa.last_name) == ("Rosa", "María Gil")

    # Signed out, Facebook signs her straight in now.
    page.get_by_role("button", name="Cerrar sesión").click()
    expect(page.get_by_role("link", name="Continuar con Facebook")).to_be_visible()
    page.get_by_role("link", name="Continuar con Facebook").click()
    expect(page).to_have_url(f"{live_server.url}/app/")
    expect(page.get_by_role("heading", name="Mis tarjetas")).to_be_visible()
    page.get_by_role("link", name="Formas de ingresar").click()
    expect(page.locator("#method-facebook")).to_contain_text("rosa@mail.example")
    _fits(page)
    assert refused == []
    context.close()
