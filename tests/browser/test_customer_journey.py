"""The customer's whole journey, in real browsers against a real server: Ana registers
on her café's app on her phone, opens the confirmation link from the e-mail the test's
SMTP server received, and sees her card; on a second phone the cashier scans her QR
with the camera and gives her points for a purchase; her history shows them; she
requests a reward; the cashier confirms it; she sees it confirmed. The ledger agrees."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from core.loyalty import ledger
from core.loyalty.members import Membership
from core.loyalty.program import update_program
from core.loyalty.rewards import Redemption, create_reward
from core.loyalty.staff import Role, create_staff
from core.testing.factories import PASSWORD
from tests.browser.conftest import PHONE, csp_violations, qr_video, shoot

LINK = re.compile(r"https?://\S+/app/confirm/[\w.\-]+")
REACH = "document.documentElement.scrollWidth"
CASHIER = "caja1@cafe.example"


@pytest.fixture
def shop(make_tenant, db):
    """Café La Esquina: 1 point per 1.000 COP, 10 welcome points, requests from the app,
    a free coffee for 50 points."""
    tenant = make_tenant(slug="cafe", name="Café La Esquina")
    with db(tenant) as session:
        update_program(
            session,
            {
                "points_per_amount": {"amount": "1000", "points": 1},
                "welcome_points": 10,
                "customer_redemption_requests": True,
            },
        )
        create_staff(session, email=CASHIER, name="Caja 1", password=PASSWORD, role=Role.EMPLOYEE)
        create_reward(session, name="Café gratis", points=50, stock=3)
        session.commit()
    return tenant


def _text(message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")


def _fits(page) -> None:
    assert page.evaluate(REACH) <= PHONE["viewport"]["width"], page.url


def test_register_show_the_qr_earn_request_and_see_the_reward_confirmed(
    live_server, browser, camera_browser, shop, db, smtp_server, tmp_path
):
    app_url = f"{live_server.url}/t/cafe/app"
    phone = browser.new_context(**PHONE, locale="es-CO")
    refused = csp_violations(phone)
    ana = phone.new_page()

    # Ana registers on the café's app and confirms her e-mail from the link she got.
    ana.goto(f"{app_url}/register")
    ana.get_by_label("Nombre (opcional)").fill("Ana")
    ana.get_by_label("Correo electrónico").fill("ana@mail.example")
    ana.get_by_label("Contraseña").fill("una-clave-muy-suya-77")
    ana.get_by_role("button", name="Crear mi cuenta").click()
    expect(ana.get_by_role("heading", name="Revisa tu correo")).to_be_visible()
    link = LINK.search(_text(smtp_server.handler.wait_for(1)[0])).group(0)
    ana.goto(link)
    expect(ana.get_by_text("Tu correo está confirmado")).to_be_visible()
    code = ana.locator(".app-card .code").inner_text().strip()
    expect(ana.locator(".app-card .points")).to_contain_text("10")  # welcome points
    assert ana.locator(".app-card .qr svg").count() == 1
    _fits(ana)
    shoot(ana, "journey-01-card")

    # The cashier scans the QR on Ana's screen with the phone's camera and gives points.
    till = camera_browser(qr_video(code, tmp_path / "qr.y4m")).new_context(**PHONE, locale="es-CO")
    till.grant_permissions(["camera"], origin=live_server.url)
    cashier = till.new_page()
    cashier.goto(f"{live_server.url}/t/cafe/login")
    cashier.get_by_label("Correo electrónico").fill(CASHIER)
    cashier.get_by_label("Contraseña").fill(PASSWORD)
    cashier.get_by_role("button", name="Iniciar sesión").click()
    cashier.get_by_role("link", name="Fidelización").click()
    cashier.get_by_role("button", name="Escanear QR").click()
    cashier.wait_for_url(re.compile(rf"/t/cafe/panel/loyalty/{code}$"), timeout=15_000)
    cashier.get_by_label("Monto de la compra").fill("45.000")
    cashier.get_by_label("Descripción").fill("F-0012 mesa 4")
    cashier.get_by_role("button", name="Dar puntos").click()
    expect(cashier.locator("[data-balance]")).to_have_text("55")
    shoot(cashier, "journey-02-till-points-given")

    # Ana's history shows the purchase's points, never the cashier's description.
    ana.get_by_role("navigation").get_by_role("link", name="Historial").click()
    first = ana.locator(".history li").first
    expect(first.locator(".points")).to_have_text("+45")
    expect(ana.locator(".history li")).to_have_count(2)
    assert "F-0012" not in ana.content()
    _fits(ana)
    shoot(ana, "journey-03-history")

    # She requests the free coffee: the points are held, the request is pending.
    ana.get_by_role("navigation").get_by_role("link", name="Recompensas").click()
    ana.get_by_role("listitem").filter(has_text="Café gratis").get_by_role(
        "button", name="Solicitarla"
    ).click()
    ana.get_by_role("navigation").get_by_role("link", name="Mis solicitudes").click()
    request = ana.locator(".requests li").filter(has_text="Café gratis")
    expect(request.locator(".status")).to_have_text("Pendiente")
    _fits(ana)
    shoot(ana, "journey-04-requested")

    # The cashier sees the request on Ana's page and confirms it.
    cashier.reload()
    cashier.get_by_role("button", name="Confirmar").click()
    expect(cashier.locator("[data-balance]")).to_have_text("5")
    till.close()

    ana.reload()
    expect(request.locator(".status")).to_have_text("Confirmada")
    shoot(ana, "journey-05-confirmed")
    phone.close()
    assert refused == []

    with db(shop) as session:
        member = session.scalars(select(Membership).where(Membership.code == code)).one()
        assert member.balance == 5
        assert ledger.audit_member(session, member.id) == (5, 5, 5)  # balance = entries = lots
        redemption = session.scalars(select(Redemption)).one()
        assert (redemption.status, redemption.points) == ("confirmed", 50)
        assert session.scalar(select(func.count(Redemption.id))) == 1
