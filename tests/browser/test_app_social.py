"""Google sign-in in a real browser on a phone: the customer app's button, the local
OpenID provider's consent page, and back on the app signed in; on the shared app and on
a merchant's pages. No page of ours scrolls sideways or breaks the CSP."""

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

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning:authlib"
)  # the local provider's
REACH = "document.documentElement.scrollWidth"


@pytest.fixture(scope="module")
def google():
    with providers.google_provider() as url:
        yield url


@pytest.fixture
def app(make_app, google):
    application = make_app(SERVER_NAME=None, **providers.config(google))
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
