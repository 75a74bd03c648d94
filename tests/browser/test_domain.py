"""Configuración → Dominio propio in a real browser: the owner enters the domain, reads
the records (on a phone too, without the page scrolling sideways), and verifies it
against the test's DNS server."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from core.host.db import platform_session
from core.loyalty.staff import Role, StaffUser
from core.testing.factories import PASSWORD
from tenants import domains
from tenants.models import Tenant
from tests.browser.conftest import DESKTOP, PHONE, csp_violations, shoot

DOMAIN = "puntos.cafelaesquina.co"
TARGET = "premia.example"


@pytest.fixture
def app(make_app, dns_server):
    application = make_app(
        SERVER_NAME=None,
        PREMIA_CNAME_TARGET=TARGET,
        PREMIA_DNS_NAMESERVERS=[dns_server.address],
        PREMIA_DNS_TIMEOUT=0.5,
    )
    with application.app_context():
        yield application


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_the_owner_points_the_domain_and_verifies_it(
    live_server, browser, make_tenant, db, platform, dns_server, device
):
    shop = make_tenant("cafe", plan="white-label", name="Café La Esquina")
    with db(shop) as session:
        email = session.scalars(select(StaffUser.email).where(StaffUser.role == Role.OWNER)).one()
    context = browser.new_context(**(PHONE if device == "phone" else DESKTOP), locale="es-CO")
    refused = csp_violations(context)
    page = context.new_page()
    page.goto(f"{live_server.url}/t/{shop.slug}/login")
    page.get_by_label("Correo electrónico").fill(email)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    page.goto(f"{live_server.url}/t/{shop.slug}/panel/settings/")
    page.get_by_role("link", name="Dominio propio").click()

    page.get_by_label("Tu dominio").fill(DOMAIN)
    page.get_by_role("button", name="Guardar").click()
    expect(page.locator(".flash[role=alert]")).to_contain_text("Dominio guardado.")
    with db(shop) as session:
        token = domains.current(session).token
    records = page.locator("#dns-records tbody tr")
    expect(records).to_have_count(2)
    expect(records.nth(0)).to_contain_text(f"CNAME{DOMAIN}{TARGET}")
    expect(records.nth(1)).to_contain_text(f"premia-verify={token}")
    # The long TXT value wraps: every column is in view, and the page never scrolls sideways.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    value = records.nth(1).locator("td").nth(2).bounding_box()
    assert value["x"] + value["width"] <= page.viewport_size["width"]
    shoot(page, f"domain-records-{device}")

    page.get_by_role("button", name="Verificar ahora").click()
    expect(page.locator(".flash.error").first).to_have_text(
        "No se encontró un registro CNAME para el dominio."
    )
    dns_server.cname(DOMAIN, TARGET)
    dns_server.txt(f"_premia-verify.{DOMAIN}", f"premia-verify={token}")
    page.get_by_role("button", name="Verificar ahora").click()
    expect(page.locator(".flash[role=alert]")).to_have_text(
        "El dominio está verificado: tus clientes ya pueden usarlo."
    )
    expect(page.get_by_text(re.compile(f"https://{re.escape(DOMAIN)}/app/"))).to_be_visible()
    shoot(page, f"domain-verified-{device}")
    with platform_session(platform.sessions) as session:
        assert session.get(Tenant, shop.id).domain == DOMAIN
    assert refused == []
    context.close()
