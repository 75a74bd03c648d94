"""A coupon in real browsers against a real server, on phones: a visitor opens a
coupon's URL (what its QR carries), registers, confirms from the e-mail the test's
SMTP server received and finds the coupon's points on her card; opening it again
is refused. Another person, signed in, claims a second code with the button and is
refused the first one, used already."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from core.loyalty.program import update_program
from plugins.coupons import campaigns, claims
from tests.browser.conftest import PHONE, csp_violations, shoot
from tests.plugins.coupons.conftest import TODAY

LINK = re.compile(r"https?://\S+/app/confirm/[\w.\-]+")
REACH = "document.documentElement.scrollWidth"


@pytest.fixture
def shop(make_tenant, db):
    """Café La Esquina: 10 welcome points; a campaign of two codes worth 100 points."""
    tenant = make_tenant(slug="cafe", name="Café La Esquina", plan="white-label")
    with db(tenant) as session:
        update_program(session, {"welcome_points": 10})
        campaign = campaigns.create_campaign(
            session,
            tenant,
            name="BIENVENIDA2027",
            points=100,
            starts_on=TODAY - timedelta(days=1),
            ends_on=None,
            kind="single",
            count=2,
        )
        session.commit()
        tenant.codes = [row.code.code for row in campaigns.code_rows(session, campaign, TODAY)]
    return tenant


def _text(message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")


def _register(page, smtp_server, name: str, email: str, sent: int) -> None:
    page.get_by_label("Nombre (opcional)").fill(name)
    page.get_by_label("Correo electrónico").fill(email)
    page.get_by_label("Contraseña").fill(f"una-clave-de-{name.lower()}-77")
    page.get_by_role("button", name="Crear mi cuenta").click()
    expect(page.get_by_role("heading", name="Revisa tu correo")).to_be_visible()
    mails = [m for m in smtp_server.handler.wait_for(sent) if m["To"] == email]
    page.goto(LINK.search(_text(mails[-1])).group(0))
    expect(page.get_by_text("Tu correo está confirmado")).to_be_visible()


def test_a_visitor_opens_a_coupon_registers_and_earns_its_points_once(
    live_server, browser, shop, db, smtp_server
):
    first, second = shop.codes
    with live_server.app.app_context():
        url = claims.claim_url(shop, first)
    assert url == f"{live_server.url}/t/cafe/app/coupon/{first}"

    phone = browser.new_context(**PHONE, locale="es-CO")
    refused = csp_violations(phone)
    bea = phone.new_page()
    bea.goto(url)
    expect(bea.get_by_role("heading", name="Un cupón de Café La Esquina")).to_be_visible()
    assert bea.evaluate(REACH) <= PHONE["viewport"]["width"]
    shoot(bea, "coupons-01-visitor")
    bea.get_by_role("link", name="Crear mi cuenta").click()
    _register(bea, smtp_server, "Bea", "bea@mail.example", 1)
    expect(bea.locator(".app-card .points")).to_contain_text("110")  # welcome + coupon
    shoot(bea, "coupons-02-card")
    bea.goto(url)  # the same code again
    expect(bea.get_by_role("alert").filter(has_text="Ya reclamaste este cupón.")).to_be_visible()
    shoot(bea, "coupons-03-again")

    # Cid registers on his own phone, claims the second code with the button, not the first.
    other = browser.new_context(**PHONE, locale="es-CO")
    refused_other = csp_violations(other)
    cid = other.new_page()
    cid.goto(f"{live_server.url}/t/cafe/app/register")
    _register(cid, smtp_server, "Cid", "cid@mail.example", 2)
    cid.goto(f"{live_server.url}/t/cafe/app/coupon/{second}")
    expect(cid.locator(".coupon-points")).to_have_text("100 puntos")
    cid.get_by_role("button", name="Reclamar mis puntos").click()
    expect(cid.get_by_text("Ganaste 100 puntos con el cupón.")).to_be_visible()
    expect(cid.locator(".app-card .points")).to_contain_text("110")
    cid.goto(url)
    expect(cid.get_by_role("alert").filter(has_text="Este cupón ya fue usado.")).to_be_visible()
    assert cid.evaluate(REACH) <= PHONE["viewport"]["width"]
    shoot(cid, "coupons-04-used")
    phone.close()
    other.close()
    assert refused == [] and refused_other == []
