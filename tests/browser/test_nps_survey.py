"""A member answers the satisfaction survey from the e-mail the test's SMTP server
received, on a phone, in their language, with no sign-in; the owner then sees the NPS
on Inicio. Screenshots: build/screenshots/nps-*.png."""

from __future__ import annotations

import re

from core.host.actors import Actor
from core.host.db import tenant_session
from core.host.settings import save_settings
from core.loyalty import ledger
from core.testing.factories import PASSWORD
from core.testing.weblogin import owner_email
from plugins.nps.settings import NpsSettings
from tests.browser.conftest import DESKTOP, PHONE, csp_violations, shoot

LINK = re.compile(r"https?://[^/\s]+(/t/cafe/surveys/[A-Za-z0-9_.\-]+)")


def test_a_member_answers_from_the_e_mail_and_inicio_shows_the_nps(
    app, live_server, browser, make_tenant, make_member, db, smtp_server
):
    platform = app.extensions["premia"]
    shop = make_tenant(slug="cafe", name="Café Central")
    member = make_member(shop, "ana@mail.example")
    with tenant_session(platform.sessions, shop.id) as session:
        save_settings(session, "nps", NpsSettings(), {"earn_bonus": 20})
        ledger.earn(session, member, points=100, actor=Actor.system())
        session.commit()
    mails = smtp_server.handler.wait_for(2)
    received = [m for m in mails if "recibiste" in m["Subject"].lower() or LINK.search(str(m))]
    assert received, [m["Subject"] for m in mails]
    body = "".join(
        part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
        for part in received[-1].walk()
        if part.get_content_type() == "text/plain"
    )
    path = LINK.search(body).group(1)

    phone = browser.new_context(**PHONE, locale="es-CO")
    violations = csp_violations(phone)
    page = phone.new_page()
    page.goto(live_server.url + path)
    assert page.get_by_role("heading", name="Encuesta de satisfacción").is_visible()
    assert page.get_by_text("Responde y gana 20 puntos.").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]
    shoot(page, "nps-survey")
    page.locator("label.nps-choice", has_text="10").click()
    page.get_by_label("¿Algo que quieras contarnos? (opcional)").fill("¡Excelente atención!")
    page.get_by_role("button", name="Enviar mi respuesta").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("¡Gracias por tu respuesta!").is_visible()
    assert page.get_by_text("Ganaste 20 puntos.").is_visible()
    shoot(page, "nps-thanks")
    assert violations == []
    phone.close()

    desk = browser.new_context(**DESKTOP, locale="es-CO")
    panel = desk.new_page()
    panel.goto(f"{live_server.url}/t/cafe/login")
    panel.get_by_label("Correo electrónico").fill(owner_email(db, shop))
    panel.get_by_label("Contraseña").fill(PASSWORD)
    panel.get_by_role("button", name="Iniciar sesión").click()
    panel.wait_for_url(re.compile(r".*/t/cafe/panel/?$"))
    widget = panel.locator("#nps-widget")
    assert widget.locator(".nps-value").inner_text() == "100"
    assert widget.locator(".nps-promoters").inner_text() == "1"
    shoot(panel, "nps-inicio")
    panel.get_by_role("link", name="Ver las respuestas").click()
    assert panel.get_by_text("¡Excelente atención!").is_visible()
    desk.close()
