"""A referral in real browsers against a real server: Ana, a member, opens "Referir a
amistades" on her phone, copies her link and sees the WhatsApp link carry it; Bea opens
it on another phone (a browser context of her own), reads who invites her, registers
and confirms from the e-mail the test's SMTP server received; the cashier types Bea's
code at the till and gives her points for a purchase; Ana sees Bea paid on her page,
her balance on her card, and the e-mail that told her. Bea answers the satisfaction
survey her points e-mail carried (received by the test's SMTP server), and the owner
sees the NPS on Inicio: the whole journey of issue 13 in one test."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from playwright.sync_api import expect

from core.loyalty.program import update_program
from core.loyalty.staff import Role, create_staff
from core.testing.factories import PASSWORD
from core.testing.weblogin import owner_email
from tests.browser.conftest import DESKTOP, PHONE, csp_violations, shoot

LINK = re.compile(r"https?://\S+/app/confirm/[\w.\-]+")
SURVEY = re.compile(r"https?://[^/\s]+(/t/cafe/surveys/[A-Za-z0-9_.\-]+)")
REACH = "document.documentElement.scrollWidth"
CASHIER = "caja1@cafe.example"


@pytest.fixture
def shop(make_tenant, db):
    """Café La Esquina: 1 point per 1.000 COP, 10 welcome points; 100 points per friend."""
    tenant = make_tenant(slug="cafe", name="Café La Esquina")
    with db(tenant) as session:
        update_program(
            session,
            {"points_per_amount": {"amount": "1000", "points": 1}, "welcome_points": 10},
        )
        create_staff(session, email=CASHIER, name="Caja 1", password=PASSWORD, role=Role.EMPLOYEE)
        session.commit()
    return tenant


def _text(message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")


def _register(page, app_url: str, smtp_server, name: str, email: str, sent: int) -> None:
    page.get_by_label("Nombre (opcional)").fill(name)
    page.get_by_label("Correo electrónico").fill(email)
    page.get_by_label("Contraseña").fill(f"una-clave-de-{name.lower()}-77")
    page.get_by_role("button", name="Crear mi cuenta").click()
    expect(page.get_by_role("heading", name="Revisa tu correo")).to_be_visible()
    mails = [m for m in smtp_server.handler.wait_for(sent) if m["To"] == email]
    page.goto(LINK.search(_text(mails[-1])).group(0))
    expect(page.get_by_text("Tu correo está confirmado")).to_be_visible()


def test_a_member_shares_her_link_the_friend_joins_earns_and_she_is_paid(
    live_server, browser, shop, db, smtp_server
):
    app_url = f"{live_server.url}/t/cafe/app"
    phone = browser.new_context(**PHONE, locale="es-CO")
    phone.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    refused = csp_violations(phone)
    ana = phone.new_page()
    ana.goto(f"{app_url}/register")
    _register(ana, app_url, smtp_server, "Ana", "ana@mail.example", 1)

    # Ana's invite page: her link, copied; WhatsApp carries it; a QR to show.
    ana.get_by_role("navigation").get_by_role("link", name="Referir a amistades").click()
    link = ana.get_by_label("Tu enlace de invitación", exact=True).input_value()
    assert re.fullmatch(rf"{re.escape(app_url)}/referrals/i/[A-Z0-9]{{10}}", link)
    ana.get_by_role("button", name="Copiar el enlace").click()
    expect(ana.get_by_role("button", name="Copiado")).to_be_visible()
    assert ana.evaluate("navigator.clipboard.readText()") == link
    whatsapp = ana.get_by_role("link", name="Compartir por WhatsApp").get_attribute("href")
    assert whatsapp.startswith("https://wa.me/?text=") and link in unquote(whatsapp)
    assert ana.locator(".referral-link .qr svg").count() == 1
    assert ana.evaluate(REACH) <= PHONE["viewport"]["width"]
    shoot(ana, "referrals-01-invite")

    # Bea, on her own phone, opens the link, registers and confirms.
    other = browser.new_context(**PHONE, locale="es-CO")
    refused_other = csp_violations(other)
    bea = other.new_page()
    bea.goto(link)
    expect(bea.get_by_role("heading", name="Ana te invita a Café La Esquina")).to_be_visible()
    shoot(bea, "referrals-02-landing")
    bea.get_by_role("link", name="Crear mi cuenta").click()
    _register(bea, app_url, smtp_server, "Bea", "bea@mail.example", 3)
    code = bea.locator(".app-card .code").inner_text().strip()
    expect(bea.locator(".app-card .points")).to_contain_text("10")  # welcome points only

    # The cashier types Bea's code at the till and gives her points for a purchase.
    till = browser.new_context(**PHONE, locale="es-CO")
    cashier = till.new_page()
    cashier.goto(f"{live_server.url}/t/cafe/login")
    cashier.get_by_label("Correo electrónico").fill(CASHIER)
    cashier.get_by_label("Contraseña").fill(PASSWORD)
    cashier.get_by_role("button", name="Iniciar sesión").click()
    cashier.get_by_role("link", name="Fidelización").click()
    cashier.get_by_label("Cliente").fill(code)
    cashier.keyboard.press("Enter")
    cashier.get_by_label("Monto de la compra").fill("25.000")
    cashier.get_by_role("button", name="Dar puntos").click()
    expect(cashier.locator("[data-balance]")).to_have_text("35")
    till.close()

    # Ana sees Bea paid, and her points on her card; the e-mail told her.
    ana.get_by_role("navigation").get_by_role("link", name="Referir a amistades").click()
    friend = ana.locator(".friends li").filter(has_text="Bea")
    expect(friend).to_contain_text("+100 puntos")
    shoot(ana, "referrals-03-paid")
    ana.goto(f"{app_url}/")
    expect(ana.locator(".app-card .points")).to_contain_text("110")
    told = [m for m in smtp_server.handler.messages if m["To"] == "ana@mail.example"]
    assert any("100" in _text(m) and "Bea" in _text(m) for m in told)

    # Bea's e-mail of the points received carries the survey (the nps plugin, on by
    # default for earnings): she answers it on her phone, without signing in again.
    surveys = [
        SURVEY.search(_text(m)).group(1)
        for m in smtp_server.handler.messages
        if m["To"] == "bea@mail.example" and SURVEY.search(_text(m))
    ]
    assert len(surveys) == 1, [m["Subject"] for m in smtp_server.handler.messages]
    bea.goto(live_server.url + surveys[0])
    expect(bea.get_by_role("heading", name="Encuesta de satisfacción")).to_be_visible()
    bea.locator("label.nps-choice", has_text="9").click()
    bea.get_by_label("¿Algo que quieras contarnos? (opcional)").fill("Me invitó Ana")
    bea.get_by_role("button", name="Enviar mi respuesta").click()
    expect(bea.get_by_text("¡Gracias por tu respuesta!")).to_be_visible()
    shoot(bea, "referrals-04-survey")
    phone.close()
    other.close()
    assert refused == [] and refused_other == []

    # The owner sees the NPS on Inicio: one promoter of one answer.
    desk = browser.new_context(**DESKTOP, locale="es-CO")
    owner = desk.new_page()
    owner.goto(f"{live_server.url}/t/cafe/login")
    owner.get_by_label("Correo electrónico").fill(owner_email(db, shop))
    owner.get_by_label("Contraseña").fill(PASSWORD)
    owner.get_by_role("button", name="Iniciar sesión").click()
    owner.wait_for_url(re.compile(r".*/t/cafe/panel/?$"))
    widget = owner.locator("#nps-widget")
    expect(widget.locator(".nps-value")).to_have_text("100")
    expect(widget.locator(".nps-promoters")).to_have_text("1")
    shoot(owner, "referrals-05-inicio")
    desk.close()
