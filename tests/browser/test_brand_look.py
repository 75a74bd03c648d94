"""Configuración → Marca in a real browser: the frames of the live preview (the app's
card, an e-mail, the printed card) follow the colour as it is typed, with nothing saved
and nothing refused by the Content-Security-Policy; a colour text cannot be read on is
warned with a suggestion that one click puts in the form and the preview; saving it
reaches the customer app's manifest and the panel's own top bar, its text readable."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from core.testing.factories import PASSWORD
from core.testing.weblogin import owner_email
from plugins.theme import contrast
from tests.browser.conftest import DESKTOP, csp_violations, shoot

GREEN = "#065f46"
BLUE = "#3b82f6"  # white text on it fails WCAG AA (3.7:1)


def _rgb(color: str) -> str:
    return "rgb({}, {}, {})".format(*(int(color[i : i + 2], 16) for i in (1, 3, 5)))


def _background(frame, selector: str) -> str:
    return frame.locator(selector).first.evaluate("e => getComputedStyle(e).backgroundColor")


def test_the_preview_follows_the_form_and_the_suggestion_is_one_click(
    live_server, browser, make_tenant, db
):
    shop = make_tenant("barrio", plan="white-label", name="Barrio Dulce")
    context = browser.new_context(**DESKTOP, locale="es-CO")
    refused = csp_violations(context)
    page = context.new_page()
    page.goto(f"{live_server.url}/t/barrio/login")
    page.get_by_label("Correo electrónico").fill(owner_email(db, shop))
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    page.wait_for_url(re.compile(r".*/t/barrio/panel/?$"))
    page.goto(f"{live_server.url}/t/barrio/panel/brand/")

    # Typing a colour: every frame is drawn again with it, before anything is saved.
    page.get_by_label("Color principal").fill(GREEN)
    for surface in ("app", "mail", "card"):
        expect(page.locator(f'iframe[data-surface="{surface}"]')).to_have_attribute(
            "src", re.compile("primary=%23065f46")
        )
    app_frame = page.frame_locator('iframe[data-surface="app"]')
    expect(app_frame.locator(".app-card .code")).to_have_text("PV7K2Q")
    expect(app_frame.locator("body")).to_contain_text("Barrio Dulce")
    assert _background(app_frame, ".app-bar") == "rgb(6, 95, 70)"
    mail_frame = page.frame_locator('iframe[data-surface="mail"]')
    expect(mail_frame.locator("body")).to_contain_text("Barrio Dulce")
    assert "rgb(6, 95, 70)" in mail_frame.locator("body").evaluate(
        "b => [...b.querySelectorAll('*')].map(e => getComputedStyle(e).backgroundColor).join(' ')"
    )
    shoot(page, "brand-preview")

    # A colour white text cannot be read on: the preview says so and suggests one.
    page.get_by_label("Color principal").fill(BLUE)
    page.get_by_role("button", name="Vista previa").click()
    warning = page.locator(".contrast-warning")
    expect(warning).to_contain_text("Es difícil leer el texto sobre este color")
    button = warning.locator(".use-suggestion")
    suggestion = button.get_attribute("data-color")
    assert suggestion != BLUE and contrast.passes(suggestion)
    button.click()
    expect(page.get_by_label("Color principal")).to_have_value(suggestion)
    expect(page.locator('iframe[data-surface="app"]')).to_have_attribute(
        "src", re.compile("primary=%23" + suggestion[1:])
    )
    # Nothing was saved yet: the customer app's manifest still wears the theme's colour.
    manifest = f"{live_server.url}/t/barrio/app/manifest.webmanifest"
    assert context.request.get(manifest).json()["theme_color"] != suggestion

    page.get_by_role("button", name="Guardar el aspecto").click()
    expect(page.locator(".flash[role=alert]")).to_contain_text("Se guardó el aspecto de tu marca.")
    expect(page.locator(".contrast-warning")).to_have_count(0)
    assert context.request.get(manifest).json()["theme_color"] == suggestion
    # The panel wears it too, its top bar's text in the colour readable on it.
    assert _background(page, ".topbar") == _rgb(suggestion)
    for text in (".topbar .brand", ".topbar a.who", ".topbar button.link"):
        color = page.locator(text).evaluate("e => getComputedStyle(e).color")
        assert color == _rgb(contrast.text_on(suggestion)), text
    shoot(page, "brand-saved")
    assert refused == []
    context.close()
