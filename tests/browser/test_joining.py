"""Joining on a phone, in a real browser: Ana finds a café of her city on the shared
app and joins it; at a bakery where she is no member she shows her code, the cashier
scans it with the phone's camera and enrols her with her first points. At 390 px no
page of hers scrolls sideways."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from core.host.db import platform_session, utcnow
from core.loyalty.ledger import Entry
from core.loyalty.locations import create_location
from core.loyalty.members import Customer, Membership
from core.loyalty.program import update_program
from core.loyalty.staff import Role, create_staff
from core.testing.factories import PASSWORD
from core.web.passwords import hash_password
from tests.browser.conftest import PHONE, csp_violations, qr_video, shoot

REACH = "document.documentElement.scrollWidth"


@pytest.fixture
def shops(make_tenant, db):
    """Café Aroma and Panadería Sol, both in Medellín, 20 welcome points each."""
    made = []
    for slug, name in (("cafe", "Café Aroma"), ("bakery", "Panadería Sol")):
        tenant = make_tenant(slug=slug, name=name)
        with db(tenant) as session:
            update_program(
                session,
                {"points_per_amount": {"amount": "1000", "points": 1}, "welcome_points": 20},
            )
            create_location(session, name="Centro", city="Medellín")
            create_staff(
                session,
                email=f"caja@{slug}.example",
                name="Caja",
                password=PASSWORD,
                role=Role.EMPLOYEE,
            )
            session.commit()
        made.append(tenant)
    return made


@pytest.fixture
def ana(platform, shops):
    with platform_session(platform.sessions) as session:
        customer = Customer(
            email="ana@mail.example",
            email_confirmed_at=utcnow(),
            password_hash=hash_password(PASSWORD),
        )
        session.add(customer)
        session.commit()
        return customer


def fits(page) -> None:
    assert page.evaluate(REACH) <= PHONE["viewport"]["width"], page.url


def test_ana_joins_a_cafe_of_her_city_and_is_enrolled_at_the_bakery_by_her_code(
    live_server, browser, camera_browser, platform, db, shops, ana, tmp_path
):
    cafe, bakery = shops
    context = browser.new_context(**PHONE, locale="es-CO")
    refused = csp_violations(context)
    page = context.new_page()
    page.goto(f"{live_server.url}/app/login")
    page.get_by_label("Correo electrónico").fill("ana@mail.example")
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Ingresar").click()
    page.get_by_role("main").get_by_role("link", name="Buscar comercios").click()
    # The click only starts the navigation: measure the page it leads to, loaded.
    page.wait_for_url(re.compile(r"/app/merchants/$"))
    fits(page)
    page.get_by_role("link", name="Medellín").click()
    expect(page.get_by_role("heading", name="Comercios en Medellín")).to_be_visible()
    fits(page)
    shoot(page, "phone-app-merchants")
    page.get_by_role("listitem").filter(has_text="Café Aroma").get_by_role(
        "button", name="Unirme"
    ).click()
    page.wait_for_url(re.compile(r"/t/cafe/app/$"))
    expect(page.get_by_role("alert")).to_have_text("¡Bienvenido a Café Aroma!")

    page.goto(f"{live_server.url}/app/code")
    expect(page.get_by_role("heading", name="Mi código")).to_be_visible()
    fits(page)
    shoot(page, "phone-app-my-code")
    shown = page.locator(".personal-code").inner_text()
    context.close()
    assert refused == []
    with platform_session(platform.sessions) as session:
        code = session.get(Customer, ana.id).personal_code
    assert shown.replace(" ", "") == code

    # The bakery's cashier scans the code off Ana's phone.
    video = qr_video(code, tmp_path / "code.y4m")
    till = camera_browser(video).new_context(**PHONE, locale="es-CO")
    till.grant_permissions(["camera"], origin=live_server.url)
    page = till.new_page()
    page.goto(f"{live_server.url}/t/bakery/login")
    page.get_by_label("Correo electrónico").fill("caja@bakery.example")
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    page.goto(f"{live_server.url}/t/bakery/panel/loyalty/")
    page.get_by_role("button", name="Escanear QR").click()
    page.wait_for_url(re.compile(rf"/t/bakery/panel/loyalty/join/{code}$"), timeout=15_000)
    expect(page.get_by_role("heading", name="Aún no es cliente")).to_be_visible()
    fits(page)
    shoot(page, "phone-till-newcomer")
    page.get_by_label("Monto de la compra").fill("12.000")
    page.get_by_role("button", name="Inscribir y dar puntos").click()
    expect(page.locator("[data-balance]")).to_have_text("32")
    till.close()

    with db(bakery) as session:
        member = session.scalars(select(Membership)).one()
        assert (member.customer_id, member.joined_via) == (ana.id, "till")
        assert [(e.kind, e.points) for e in session.scalars(select(Entry).order_by(Entry.id))] == [
            ("welcome", 20),
            ("earn", 12),
        ]
    with db(cafe) as session:
        assert session.scalars(select(Membership.balance)).one() == 20
