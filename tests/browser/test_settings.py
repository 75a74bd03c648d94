"""Configuración in a real browser: a plugin's rows added and removed with rows.js, then
saved; and the API page it links to, whose permission boxes sit beside their words on
a phone."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select

from core.loyalty.staff import Role, StaffUser
from core.testing.factories import PASSWORD
from tests.browser.conftest import DESKTOP, PHONE, shoot


def _log_in(page: Page, base: str, shop, db) -> None:
    with db(shop) as session:
        email = session.scalars(select(StaffUser.email).where(StaffUser.role == Role.OWNER)).one()
    page.goto(f"{base}/t/{shop.slug}/login")
    page.get_by_label("Correo electrónico").fill(email)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    expect(page.get_by_role("navigation")).to_be_visible()


def test_tiers_are_added_and_removed_in_place_and_saved(
    live_server, browser, make_tenant, db, platform
):
    shop = make_tenant(plan="white-label", name="Café La Esquina")
    context = browser.new_context(**DESKTOP, locale="es-CO")
    page = context.new_page()
    _log_in(page, live_server.url, shop, db)
    page.get_by_role("navigation").get_by_role("link", name="Configuración").click()
    tiers = page.locator("#plugin-tiers-tiers")
    rows = tiers.locator(".rows-items > fieldset.row")
    expect(rows).to_have_count(1)  # the spare empty row
    page.evaluate("window.notReloaded = true")

    rows.nth(0).get_by_label("Nombre").fill("Plata")
    rows.nth(0).get_by_label("Multiplicador de puntos").fill("1")
    rows.nth(0).get_by_label("Compras para alcanzarlo").fill("0")
    tiers.get_by_role("button", name="Añadir nivel").click()
    expect(rows).to_have_count(2)
    expect(rows.nth(1).locator("legend")).to_have_text("Nivel 2")
    expect(rows.nth(1).get_by_label("Nombre")).to_be_focused()
    rows.nth(1).get_by_label("Nombre").fill("Oro")
    rows.nth(1).get_by_label("Multiplicador de puntos").fill("1,5")
    rows.nth(1).get_by_label("Compras para alcanzarlo").fill("500.000")
    tiers.get_by_role("button", name="Añadir nivel").click()
    rows.nth(2).get_by_label("Nombre").fill("Bronce")
    rows.nth(0).get_by_role("button", name="Quitar").click()  # Plata goes
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("legend")).to_have_text("Nivel 1")
    expect(rows.nth(0).get_by_label("Nombre")).to_have_value("Oro")
    rows.nth(1).get_by_role("button", name="Quitar").click()  # Bronce, half typed, goes too
    assert page.evaluate("window.notReloaded === true")  # all of it in place
    page.locator("#plugin-tiers-downgrade").select_option(
        label="Nunca: el cliente conserva el nivel alcanzado"
    )
    shoot(page, "settings-tiers")
    page.get_by_role("button", name="Guardar configuración").click()
    expect(page.locator(".flash[role=alert]")).to_have_text("Configuración guardada.")
    with db(shop) as session:
        saved = platform.plugins.settings(session, "tiers")
    assert [
        (t["code"], t["name"], str(t["multiplier"]), str(t["threshold"])) for t in saved["tiers"]
    ] == [("oro", "Oro", "1.5", "500000")]
    assert saved["downgrade"] == "never"
    expect(page.locator("#plugin-tiers-tiers-0-name")).to_have_value("Oro")
    context.close()


BOXES = """() => [...document.querySelectorAll('input[name=scopes]')].map(box => {
  const label = box.closest('label');
  const range = document.createRange();
  range.setStartAfter(box);
  range.setEndAfter(label.lastChild);
  const [b, t] = [box.getBoundingClientRect(), range.getBoundingClientRect()];
  return {box: [b.left, b.right, b.top, b.bottom], text: [t.left, t.right, t.top, t.bottom],
          width: document.documentElement.scrollWidth};
})"""


def test_the_api_page_is_linked_from_configuracion_with_its_boxes_beside_their_words(
    live_server, browser, make_tenant, db
):
    shop = make_tenant(plan="white-label", name="Café La Esquina")
    context = browser.new_context(**PHONE, locale="es-CO")
    page = context.new_page()
    _log_in(page, live_server.url, shop, db)
    page.goto(f"{live_server.url}/t/{shop.slug}/panel/settings/")
    page.get_by_role("link", name="Tokens de la API para tu punto de venta").click()
    expect(page.get_by_role("heading", name="API", exact=True)).to_be_visible()
    shoot(page, "api-tokens-phone")
    boxes = page.evaluate(BOXES)
    assert len(boxes) == 6  # webhooks:write too (the webhooks plugin)
    for found in boxes:
        (b_left, b_right, b_top, b_bottom), (t_left, _t_right, t_top, _t_bottom) = (
            found["box"],
            found["text"],
        )
        assert b_right - b_left < 40, found  # a box, not a bar across the page
        assert b_right <= t_left <= b_right + 16, found  # its words right beside it
        assert b_top < t_top + 24 and t_top < b_bottom, found  # on the same line
        assert found["width"] <= 390, found  # nothing wider than the phone
    lefts = {round(found["box"][0]) for found in boxes}
    assert len(lefts) == 1, lefts  # aligned one under the other
    context.close()
