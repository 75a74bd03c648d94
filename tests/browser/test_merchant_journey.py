"""The whole merchant journey in a real browser, in Spanish, with nothing from a CDN:
a merchant signs up (confirming the e-mail caught by the SMTP server), configures the
program, adds a reward, an employee and a customer; the employee, on a phone, finds
the customer, gives points by purchase amount and redeems the reward; the owner then
sees it on Inicio and in Actividad. A screenshot of each main screen is saved."""

from __future__ import annotations

import re
from email.message import Message
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, PHONE, csp_violations, shoot

OWNER = {
    "name": "Café del Parque",
    "slug": "cafe-del-parque",
    "type": "Cafetería",
    "owner": "Lucía Gómez",
    "email": "lucia@parque.example",
    "password": "un-cafe-largo-9",
}
CASHIER = {"name": "Carlos Pérez", "email": "carlos@parque.example", "password": "caja-segura-2026"}
LINK = re.compile(r"https?://\S+/signup/confirm/[\w.\-]+")


def _text(message: Message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")


def _alert(page: Page):
    return page.locator(".flash[role=alert]")


def _log_in(page: Page, base: str, email: str, password: str, lands_on: str = "Inicio") -> None:
    page.goto(f"{base}/t/{OWNER['slug']}/login")
    page.get_by_label("Correo electrónico").fill(email)
    page.get_by_label("Contraseña").fill(password)
    page.get_by_role("button", name="Iniciar sesión").click()
    expect(page.get_by_role("heading", name=lands_on, exact=True)).to_be_visible()


def _menu(page: Page, name: str) -> None:
    page.get_by_role("navigation").get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()


def _staff(page: Page) -> None:
    page.get_by_role("navigation").get_by_role("link", name="Empleados", exact=True).click()
    expect(page.get_by_role("link", name="Nuevo empleado")).to_be_visible()


def test_a_merchant_signs_up_sets_up_and_an_employee_serves_a_customer_on_a_phone(
    live_server, browser, smtp_server
):
    base = live_server.url
    requested: list[str] = []
    refused: list[list[str]] = []

    def watch(context):
        context.on("request", lambda request: requested.append(request.url))
        refused.append(csp_violations(context))
        return context

    # --- 1. Sign-up with e-mail confirmation, at a desk -------------------------------
    desk = watch(browser.new_context(**DESKTOP, locale="es-CO"))
    page = desk.new_page()
    page.goto(f"{base}/signup/")
    expect(page.get_by_role("heading", name="Crea tu programa de fidelización")).to_be_visible()
    page.get_by_label("Nombre del negocio").fill(OWNER["name"])
    page.get_by_label("Dirección de tu programa").fill(OWNER["slug"])
    page.get_by_label("Tipo de negocio").fill(OWNER["type"])
    page.get_by_label("Tu nombre").fill(OWNER["owner"])
    page.get_by_label("Correo electrónico").fill(OWNER["email"])
    page.get_by_label("Contraseña").fill(OWNER["password"])
    shoot(page, "journey-01-signup")
    page.get_by_role("button", name="Registrarse").click()
    expect(page.get_by_role("heading", name="Revisa tu correo")).to_be_visible()
    expect(page.get_by_text(OWNER["email"])).to_be_visible()

    mail = smtp_server.handler.wait_for(1)[0]
    assert mail["To"] == OWNER["email"]
    link = LINK.search(_text(mail)).group(0)
    assert urlsplit(link).netloc == urlsplit(base).netloc
    page.goto(link)
    page.wait_for_url(f"{base}/t/{OWNER['slug']}/login")
    expect(_alert(page)).to_have_text(
        "Tu cuenta está lista. Inicia sesión para configurar tu programa."
    )
    page.get_by_label("Correo electrónico").fill(OWNER["email"])
    page.get_by_label("Contraseña").fill(OWNER["password"])
    page.get_by_role("button", name="Iniciar sesión").click()
    expect(page.get_by_role("heading", name="Inicio", exact=True)).to_be_visible()
    shoot(page, "journey-02-inicio-empty")

    # --- 2. Configuración: 1 punto por cada 1.000 COP, 20 puntos de bienvenida ----------
    _menu(page, "Configuración")
    page.get_by_label("Puntos", exact=True).fill("1")
    page.get_by_label("por cada monto de").fill("1.000")
    page.get_by_label("Puntos de bienvenida").fill("20")
    page.get_by_role("button", name="Guardar configuración").click()
    expect(_alert(page)).to_have_text("Configuración guardada.")
    expect(page.get_by_label("por cada monto de")).to_have_value("1.000")
    expect(page.get_by_label("Puntos de bienvenida")).to_have_value("20")
    shoot(page, "journey-03-configuracion")

    # --- 3. Recompensas: Café gratis, 50 puntos, 10 en inventario ---------------------
    _menu(page, "Recompensas")
    page.get_by_role("link", name="Nueva recompensa").click()
    page.get_by_label("Nombre").fill("Café gratis")
    page.get_by_label("Puntos necesarios").fill("50")
    page.get_by_label("Inventario").fill("10")
    page.get_by_role("button", name="Guardar").click()
    expect(_alert(page)).to_have_text("Recompensa “Café gratis” creada.")
    reward_row = page.locator("table.rows tbody tr").filter(has_text="Café gratis")
    expect(reward_row.locator("td.num")).to_have_text(["50", "10"])
    shoot(page, "journey-04-recompensas")

    # --- 4. Empleados: a cashier -----------------------------------------------------
    _staff(page)
    page.get_by_role("link", name="Nuevo empleado").click()
    page.get_by_label("Nombre").fill(CASHIER["name"])
    page.get_by_label("Correo electrónico").fill(CASHIER["email"])
    page.get_by_label("Rol").select_option(label="Empleado")
    page.get_by_label("Contraseña").fill(CASHIER["password"])
    page.get_by_role("button", name="Guardar").click()
    expect(_alert(page)).to_have_text(f"{CASHIER['name']} ya puede iniciar sesión.")
    expect(page.locator("tbody tr").filter(has_text=CASHIER["name"])).to_contain_text("Empleado")
    shoot(page, "journey-05-empleados")

    # --- 5. Clientes: invite Ana Núñez (she gets the 20 welcome points) ----------------
    _menu(page, "Clientes")
    page.get_by_role("link", name="Invitar a un cliente").click()
    page.get_by_label("Correo electrónico").fill("ana@mail.example")
    page.get_by_label("Nombre", exact=True).fill("Ana")
    page.get_by_label("Apellido").fill("Núñez")
    page.get_by_role("button", name="Enviar invitación").click()
    expect(_alert(page)).to_have_text("Invitación enviada a ana@mail.example.")
    expect(page.get_by_role("heading", name="Ana Núñez")).to_be_visible()
    shoot(page, "journey-06-cliente")
    _menu(page, "Clientes")
    expect(page.locator("tbody tr").filter(has_text="Ana Núñez")).to_have_count(1)
    shoot(page, "journey-07-clientes")

    page.get_by_role("button", name="Cerrar sesión").click()
    expect(page.get_by_role("button", name="Iniciar sesión")).to_be_visible()

    # --- 6. The cashier on a phone, from Fidelización: find "nunez", give points by amount,
    # redeem ----------------------------------------------------------------------
    phone = watch(browser.new_context(**PHONE, locale="es-CO"))
    cell = phone.new_page()
    _log_in(cell, base, CASHIER["email"], CASHIER["password"], lands_on="Fidelización")
    menu = cell.get_by_role("navigation")
    expect(menu.get_by_role("link", name="Configuración")).to_have_count(0)
    expect(menu.locator("a[href$='/panel/staff/']")).to_have_count(0)
    shoot(cell, "journey-08-phone-fidelizacion")

    cell.get_by_label("Cliente").fill("nunez")
    cell.get_by_role("button", name="Buscar").click()
    results = cell.locator(".loyalty-results li")
    expect(results).to_have_count(1)
    shoot(cell, "journey-09-phone-busqueda")
    results.filter(has_text="Ana Núñez").get_by_role("link").first.click()
    expect(cell.get_by_role("heading", name="Ana Núñez")).to_be_visible()
    expect(cell.locator("[data-balance]")).to_have_text("20")  # the welcome points
    shoot(cell, "journey-10-phone-cliente")

    cell.get_by_label("Monto de la compra").fill("45.999")
    cell.get_by_role("button", name="Dar puntos").click()
    expect(_alert(cell)).to_have_text(
        "45 puntos dados a Ana Núñez por una compra de $45.999. Saldo: 65"
    )
    expect(cell.locator("[data-balance]")).to_have_text("65")
    shoot(cell, "journey-11-phone-puntos")

    cell.get_by_role("listitem").filter(has_text="Café gratis").get_by_role(
        "button", name="Canjear"
    ).click()
    expect(_alert(cell)).to_have_text("Ana Núñez canjeó Café gratis por 50 puntos. Saldo: 15")
    expect(cell.locator("[data-balance]")).to_have_text("15")
    shoot(cell, "journey-12-phone-canje")
    phone.close()

    # --- 7. The owner sees it on Inicio and in Actividad -----------------------------
    _log_in(page, base, OWNER["email"], OWNER["password"])
    figures = page.get_by_role("region", name="Cifras de los días elegidos")
    # Today: 20 welcome + 45 purchase points given, one redemption of 50.
    for label, value in (
        ("Clientes nuevos", "1"),
        ("Puntos otorgados", "65"),
        ("Puntos canjeados", "50"),
        ("Canjes", "1"),
    ):
        expect(figures.locator(".figure").filter(has_text=label).locator(".value")).to_have_text(
            value
        )
    program = page.get_by_role("region", name="Cifras del programa")
    expect(
        program.locator(".figure").filter(has_text="Puntos en circulación").locator(".value")
    ).to_have_text("15")
    shoot(page, "journey-13-inicio")

    _menu(page, "Actividad")
    rows = page.locator("table.movements tbody tr")
    expect(rows).to_have_count(3)  # welcome points, the purchase, the redemption
    by_cashier = rows.filter(has=page.locator("td.actor", has_text=CASHIER["name"]))
    expect(by_cashier).to_have_count(2)
    expect(by_cashier.locator("td.num")).to_have_text(["-50", "45"])
    expect(by_cashier.first).to_contain_text("Ana Núñez")
    expect(by_cashier.first).to_contain_text("Canje")
    expect(rows.last).to_contain_text("Puntos de bienvenida")
    expect(rows.last.locator("td.actor")).to_have_text(OWNER["owner"])  # she invited Ana
    shoot(page, "journey-14-actividad")

    _menu(page, "Recompensas")
    expect(
        page.locator("table.rows tbody tr").filter(has_text="Café gratis").locator("td.num")
    ).to_have_text(["50", "9"])  # one of the 10 handed over
    desk.close()

    # Nothing came from a CDN (or anywhere else): every request went to the live server.
    hosts = {urlsplit(url).netloc for url in requested}
    assert hosts == {urlsplit(base).netloc}, hosts
    # Every page worked under the Content-Security-Policy: nothing was refused.
    assert [text for found in refused for text in found] == []
    assert any(url.endswith(".css") for url in requested)
