"""The cashier in a real browser: scan the customer's QR with the phone's camera
(Chromium's fake camera playing a video of the QR), type the purchase amount,
confirm, hand over a reward; and at the counter PC, find a customer by name."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from core.host.actors import Actor
from core.loyalty import ledger
from core.loyalty.members import Membership
from core.loyalty.program import update_program
from core.loyalty.purchases import Purchase
from core.loyalty.rewards import Redemption, create_reward
from core.loyalty.staff import Role, StaffUser, create_staff
from core.testing.factories import PASSWORD
from tests.browser.conftest import DESKTOP, PHONE, csp_violations, qr_video, shoot

EMPLOYEE = "caja1@cafe.example"


@pytest.fixture
def shop(make_tenant, db):
    """Café La Esquina: 1 point per 1.000 COP, a free coffee for 30 points."""
    tenant = make_tenant(slug="cafe", name="Café La Esquina")
    with db(tenant) as session:
        update_program(session, {"points_per_amount": {"amount": "1000", "points": 1}})
        create_staff(session, email=EMPLOYEE, name="Caja 1", password=PASSWORD, role=Role.EMPLOYEE)
        create_reward(session, name="Café gratis", points=30)
        session.commit()
    return tenant


@pytest.fixture
def ana(shop, make_member, db):
    member = make_member(shop, email="ana@mail.example", first_name="Ana", last_name="Núñez")
    with db(shop) as session:
        ledger.earn(session, session.get(Membership, member.id), points=100, actor=Actor.system())
        session.commit()
    return member


def log_in(page, live_server, email):
    page.goto(f"{live_server.url}/t/cafe/login")
    page.get_by_label("Correo electrónico").fill(email)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    expect(page.get_by_role("navigation")).to_be_visible()


def test_employee_scans_the_qr_gives_points_by_amount_and_redeems_on_a_phone(
    live_server, camera_browser, shop, ana, db, tmp_path
):
    video = qr_video(ana.code, tmp_path / "qr.y4m")  # the QR holds the bare member code
    context = camera_browser(video).new_context(**PHONE, locale="es-CO")
    context.grant_permissions(["camera"], origin=live_server.url)
    refused = csp_violations(context)
    page = context.new_page()
    log_in(page, live_server, EMPLOYEE)
    shoot(page, "phone-01-home")

    page.get_by_role("link", name="Fidelización").click()
    expect(page.get_by_role("heading", name="Fidelización")).to_be_visible()
    shoot(page, "phone-02-loyalty")
    page.get_by_role("button", name="Escanear QR").click()

    # The scanner reads the code off the camera and opens the customer.
    page.wait_for_url(re.compile(rf"/t/cafe/panel/loyalty/{ana.code}$"), timeout=15_000)
    expect(page.get_by_role("heading", name="Ana Núñez")).to_be_visible()
    expect(page.locator("[data-balance]")).to_have_text("100")
    shoot(page, "phone-03-customer")

    page.get_by_label("Monto de la compra").fill("45.000")
    page.get_by_label("Descripción").fill("F-0012")
    page.get_by_role("button", name="Dar puntos").click()
    expect(page.get_by_role("alert")).to_have_text(
        "45 puntos dados a Ana Núñez por una compra de $45.000. Saldo: 145"
    )
    expect(page.locator("[data-balance]")).to_have_text("145")
    shoot(page, "phone-04-points-given")

    page.get_by_role("listitem").filter(has_text="Café gratis").get_by_role(
        "button", name="Canjear"
    ).click()
    expect(page.get_by_role("alert")).to_have_text(
        "Ana Núñez canjeó Café gratis por 30 puntos. Saldo: 115"
    )
    expect(page.locator("[data-balance]")).to_have_text("115")
    shoot(page, "phone-05-redeemed")
    context.close()
    assert refused == []  # the scanner and the panel work under the CSP

    with db(shop) as session:
        assert session.get(Membership, ana.id).balance == 115
        assert session.scalar(select(func.count(Purchase.id))) == 1
        assert session.scalar(select(func.count(Redemption.id))) == 1
        cashier = session.scalar(select(StaffUser.id).where(StaffUser.email == EMPLOYEE))
        assert session.scalars(select(Purchase)).one().actor_id == cashier


def test_at_the_counter_pc_find_a_customer_by_name_without_accents(
    live_server, browser, shop, ana, make_member, db
):
    make_member(shop, email="beto@mail.example", first_name="Beto", last_name="Nuño")
    make_member(shop, email="ines@mail.example", first_name="Inés", last_name="Núñez")
    context = browser.new_context(**DESKTOP, locale="es-CO")
    refused = csp_violations(context)
    page = context.new_page()
    with db(shop) as session:
        owner = session.scalar(select(StaffUser.email).where(StaffUser.role == "owner"))
    log_in(page, live_server, owner)
    page.get_by_role("link", name="Fidelización").click()

    # No camera on this PC: the scanner says so and the code is typed instead.
    page.get_by_role("button", name="Escanear QR").click()
    expect(page.get_by_role("status")).to_have_text(
        "La cámara no está disponible aquí: escribe el código del cliente."
    )

    page.get_by_label("Cliente").fill("nunez")
    page.get_by_role("button", name="Buscar").click()
    results = page.locator(".loyalty-results li")
    expect(results).to_have_count(2)
    expect(page.get_by_text("2 clientes encontrados")).to_be_visible()
    expect(results.filter(has_text="Beto")).to_have_count(0)
    shoot(page, "desktop-01-search")

    results.filter(has_text="Ana Núñez").get_by_role("link").click()
    expect(page.get_by_role("heading", name="Ana Núñez")).to_be_visible()
    expect(page.locator("[data-balance]")).to_have_text("100")
    expect(page.locator(".loyalty-history tbody tr")).to_have_count(1)  # the 100 points
    shoot(page, "desktop-02-customer")

    page.get_by_role("link", name="Siguiente cliente").click()
    page.get_by_label("Cliente").fill(ana.code.lower())
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Ana Núñez")).to_be_visible()
    context.close()
    assert refused == []
