"""Phones: at 390×844 no page of the panel or of the platform scrolls sideways (a table
may scroll inside its own box), plugins' links on a member stand apart, the cashier's
form asks for the amount or the points (not both), the cashier starts at Fidelización,
and Inicio's chart labels are readable. On the demo merchant, which fills every screen;
each page's screenshot is saved to build/screenshots/phone-*.png."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from core import demo
from core.host.db import tenant_session
from core.loyalty.members import Membership
from tenants.models import Tenant
from tests.browser.conftest import PHONE, shoot

WIDTH = PHONE["viewport"]["width"]
# How far the page reaches sideways: more than the screen means it scrolls sideways.
REACH = "document.documentElement.scrollWidth"


@pytest.fixture
def cafe(app):
    """The demo merchant: (base path, owner login, cashier login, a member's code)."""
    logins = {role: (email, password) for role, email, password in demo.ensure_demo(app)}
    platform = app.extensions["premia"]
    with platform.sessions() as session:
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == demo.SLUG))
    with tenant_session(platform.sessions, tenant_id) as session:
        code = session.scalars(
            select(Membership.code)
            .where(Membership.balance > 0)
            .order_by(Membership.balance.desc())
        ).first()
    return f"/t/{demo.SLUG}", logins["owner"], logins["employee"], code


def _log_in(page: Page, url: str, email: str, password: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("Correo electrónico").fill(email)
    page.get_by_label("Contraseña").fill(password)
    page.get_by_role("button", name="Iniciar sesión").click()
    page.wait_for_load_state()


def _phone(browser):
    return browser.new_context(**PHONE, locale="es-CO")


def test_no_page_scrolls_sideways_on_a_phone(live_server, browser, cafe):
    path, owner, _cashier, code = cafe
    base, url = live_server.url, live_server.url + path
    page = _phone(browser).new_page()
    too_wide: dict[str, int] = {}

    def check(name: str, address: str | None = None) -> None:
        if address:
            page.goto(address)
        page.wait_for_load_state("networkidle")
        shoot(page, f"phone-{name}")
        reach = page.evaluate(REACH)
        if reach > WIDTH:
            too_wide[name] = reach

    check("landing", f"{base}/")
    check("signup", f"{base}/signup/")
    check("login", f"{url}/login")
    check("not-found", f"{url}/no-such-page")
    _log_in(page, url, *owner)
    menu = {
        re.sub(r"\W+", "-", link.inner_text().strip().lower()): link.get_attribute("href")
        for link in page.locator("nav.menu a").all()
    }
    assert len(menu) >= 8, menu  # Inicio, Fidelización, Clientes, … and plugins' screens
    for name, href in menu.items():
        check(f"menu-{name}", base + href)
    check("customer", f"{url}/panel/customers/{code}")
    check("customer-invite", f"{url}/panel/customers/invite")
    check("loyalty-search", f"{url}/panel/loyalty/?q=a")
    check("loyalty-member", f"{url}/panel/loyalty/{code}")
    actions = [link.get_attribute("href") for link in page.locator(".loyalty-actions a").all()]
    assert len(actions) >= 2, "the demo's plugins offer links on a member"
    for n, href in enumerate(actions):
        check(f"member-action-{n}", base + href)
    for name, new in (
        ("reward", "rewards/new"),
        ("staff", "staff/new"),
        ("location", "locations/new"),
    ):
        check(f"new-{name}", f"{url}/panel/{new}")
    assert too_wide == {}, f"pages wider than {WIDTH} px: {too_wide}"


def test_a_members_plugin_links_stand_apart(live_server, browser, cafe):
    path, owner, _cashier, code = cafe
    url = live_server.url + path
    page = _phone(browser).new_page()
    _log_in(page, url, *owner)
    page.goto(f"{url}/panel/loyalty/{code}")
    links = page.locator(".loyalty-actions a")
    expect(links).to_have_count(3)  # Bonos, Pagar con puntos, Tarjetas de sellos
    boxes = [link.bounding_box() for link in links.all()]
    for before, after in pairwise(boxes):
        apart = (
            after["x"] >= before["x"] + before["width"] + 6
            or after["y"] >= before["y"] + before["height"]
        )
        assert apart, (before, after)
    shoot(page, "phone-member-links")


def test_the_cashiers_form_asks_for_the_amount_or_the_points(live_server, browser, cafe):
    path, owner, cashier, code = cafe
    url = live_server.url + path
    context = _phone(browser)
    page = context.new_page()
    _log_in(page, url, *owner)
    page.goto(f"{url}/panel/loyalty/{code}")
    amount, points = page.locator("input[name=amount]"), page.locator("input[name=points]")
    expect(amount).to_be_visible()
    expect(points).to_be_hidden()
    page.locator(".loyalty-mode").get_by_text("Puntos", exact=True).click()
    expect(points).to_be_visible()
    expect(amount).to_be_hidden()
    shoot(page, "phone-loyalty-points-mode")
    points.fill("7")
    balance = int(page.locator("[data-balance]").inner_text().replace(".", ""))
    page.get_by_role("button", name="Dar puntos").click()
    expect(page.locator("[data-balance]")).to_have_text(f"{balance + 7:,}".replace(",", "."))
    context.clear_cookies()
    # The cashier starts at Fidelización and follows the program's rule: the amount only.
    _log_in(page, url, *cashier)
    expect(page.get_by_role("heading", name="Fidelización", exact=True)).to_be_visible()
    assert page.url.endswith(f"{path}/panel/loyalty/")
    page.goto(f"{url}/panel/loyalty/{code}")
    expect(page.locator("input[name=amount]")).to_be_visible()
    expect(page.locator("input[name=points]")).to_have_count(0)


def test_inicios_chart_labels_are_readable_on_a_phone(live_server, browser, cafe):
    path, owner, _cashier, _code = cafe
    url = live_server.url + path
    page = _phone(browser).new_page()
    _log_in(page, url, *owner)
    charts = page.locator(".chart")
    expect(charts).to_have_count(5)  # the core's four, and the nps plugin's monthly trend
    labels = page.locator(".chart .scale")
    assert labels.count() >= 5 * 3  # the scale's top, the first and the last day
    for label in labels.all():
        size = label.evaluate("el => parseFloat(getComputedStyle(el).fontSize)")
        box = label.bounding_box()
        assert size >= 12 and box["height"] >= 12, (label.text_content(), size, box)
    shoot(page, "phone-inicio-charts")
