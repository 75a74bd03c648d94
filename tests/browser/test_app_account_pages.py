"""The customer app's account pages in Chromium on a phone: a person registers on a
merchant's pages, opens the link from the e-mail the test's SMTP server received and
lands signed in on the card; every account page fits 390 px without sideways scrolling
(errors shown included), and the Content-Security-Policy refuses nothing."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from core.testing.factories import PASSWORD as STAFF_PASSWORD
from tests.browser.conftest import PHONE, csp_violations, shoot

WIDTH = PHONE["viewport"]["width"]
LINK = re.compile(r"https?://\S+/app/confirm/[\w.\-]+")


def _text(message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")


def test_register_confirm_and_land_on_the_card_on_a_phone(
    live_server, browser, make_tenant, smtp_server
):
    make_tenant(slug="cafe", name="Café Azul")
    url = f"{live_server.url}/t/cafe/app"
    context = browser.new_context(**PHONE, locale="es-CO")
    refused = csp_violations(context)
    page = context.new_page()
    too_wide: dict[str, int] = {}

    def check(name: str) -> None:
        page.wait_for_load_state("networkidle")
        shoot(page, f"phone-app-{name}")
        reach = page.evaluate("document.documentElement.scrollWidth")
        if reach > WIDTH:
            too_wide[name] = reach

    for name in ("login", "password/forgot", "confirm"):
        page.goto(f"{url}/{name}")
        check(name.replace("/", "-"))
    page.goto(f"{url}/register")
    check("register")
    page.get_by_label("Correo electrónico").fill("ana.maria.de.los.angeles@correo.example")
    page.get_by_label("Contraseña").fill("password1")
    page.get_by_role("button", name="Crear mi cuenta").click()
    expect(page.get_by_text("Esta contraseña es una de las más usadas")).to_be_visible()
    check("register-errors")
    page.get_by_label("Contraseña").fill(STAFF_PASSWORD + "-app")
    page.get_by_label("Nombre (opcional)").fill("Ana")
    page.get_by_role("button", name="Crear mi cuenta").click()
    expect(page.get_by_role("heading", name="Revisa tu correo")).to_be_visible()
    check("sent")
    link = LINK.search(_text(smtp_server.handler.wait_for(1)[0])).group(0)
    assert link.startswith(f"{url}/confirm/")
    page.goto(link)
    expect(page.get_by_text("Tu correo está confirmado")).to_be_visible()
    assert page.url == f"{url}/"
    expect(page.locator(".app-card .code")).to_be_visible()
    check("card")
    assert too_wide == {}, f"pages wider than {WIDTH} px: {too_wide}"
    assert refused == []
    context.close()
