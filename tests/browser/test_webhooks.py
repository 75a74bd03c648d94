"""Configuración → Webhooks in a real browser on a phone: an endpoint created with its
events (boxes beside their words), its secret shown once, a test event delivered to a
real receiver and seen in the delivery log."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from core.loyalty.staff import Role, StaffUser
from core.testing.factories import PASSWORD
from tests.browser.conftest import PHONE, csp_violations, shoot

BOXES = """() => [...document.querySelectorAll('input[name=events]')].map(box => {
  const label = box.closest('label');
  const [b, l] = [box.getBoundingClientRect(), label.getBoundingClientRect()];
  return {box: [b.left, b.right, b.top, b.bottom], label: [l.left, l.right, l.top, l.bottom],
          width: document.documentElement.scrollWidth};
})"""


def test_an_owner_creates_an_endpoint_and_sends_it_a_test_event_on_a_phone(
    app, live_server, browser, make_tenant, db, httpserver
):
    app.config.update(PREMIA_WEBHOOKS_ALLOW_PRIVATE=True, PREMIA_WEBHOOKS_HTTPS_ONLY=False)
    httpserver.expect_request("/erp").respond_with_data("recibido")
    shop = make_tenant(plan="white-label", name="Café La Esquina")
    with db(shop) as session:
        email = session.scalars(select(StaffUser.email).where(StaffUser.role == Role.OWNER)).one()
    context = browser.new_context(**PHONE, locale="es-CO")
    violations = csp_violations(context)
    page = context.new_page()
    page.goto(f"{live_server.url}/t/{shop.slug}/login")
    page.get_by_label("Correo electrónico").fill(email)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    page.goto(f"{live_server.url}/t/{shop.slug}/panel/settings/")
    page.get_by_role("link", name="Webhooks para tus propios sistemas").click()
    expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()

    boxes = page.evaluate(BOXES)
    assert len(boxes) == 15
    for found in boxes:
        (b_left, b_right, *_b), (l_left, l_right, *_l) = found["box"], found["label"]
        assert b_right - b_left < 40, found  # a box, not a bar across the page
        assert l_left <= b_left and b_right < l_right, found  # inside its label, words after
        assert found["width"] <= 390, found  # nothing wider than the phone

    url = f"http://127.0.0.1:{httpserver.port}/erp"
    page.get_by_label("Dirección (URL)").fill(url)
    page.get_by_label("Puntos acumulados").check()
    page.get_by_role("button", name="Crear destino").click()
    secret = page.locator("#new-secret")
    expect(secret).to_contain_text("whsec_")
    shoot(page, "webhooks-new-endpoint-phone")

    page.get_by_role("link", name=url).click()
    page.get_by_role("button", name="Enviar un evento de prueba").click()
    expect(page.locator(".webhooks-delivery summary").first).to_contain_text("Entregado")
    page.locator(".webhooks-delivery summary").first.click()
    expect(page.locator(".webhooks-delivery").first).to_contain_text("recibido")
    assert len(httpserver.log) == 1
    shoot(page, "webhooks-log-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # fits the phone
    assert violations == []
    context.close()
