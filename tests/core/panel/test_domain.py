"""Configuración → Dominio: a white-label merchant enters its domain, reads the DNS
records to create, verifies it against a DNS server the test runs; other plans, other
roles and other merchants get nothing."""

from __future__ import annotations

import html

import pytest

from core.host.actors import Role
from core.host.db import platform_session
from core.testing.weblogin import flashes, login, token
from tenants import domains
from tenants.models import Tenant, TenantDomain

DOMAIN = "puntos.cafelaesquina.co"
TARGET = "premia.example"


@pytest.fixture
def app(make_app, dns_server):
    application = make_app(
        PREMIA_CNAME_TARGET=TARGET,
        PREMIA_DNS_NAMESERVERS=[dns_server.address],
        PREMIA_DNS_TIMEOUT=0.5,
    )
    with application.app_context():
        yield application


@pytest.fixture
def brand(make_tenant):
    return make_tenant("cafe", name="Café La Esquina", plan="white-label")


def page_url(tenant) -> str:
    return f"/t/{tenant.slug}/panel/settings/domain/"


def enter(client, tenant, name: str):
    return client.post(
        page_url(tenant), data={"domain": name, "csrf_token": token(client, page_url(tenant))}
    )


def press(client, tenant, action: str):
    return client.post(
        page_url(tenant) + action,
        data={"csrf_token": token(client, page_url(tenant))},
        follow_redirects=True,
    )


def stored(db, tenant) -> TenantDomain | None:
    with db(tenant) as session:
        return domains.current(session)


def served(platform, tenant) -> str | None:
    with platform_session(platform.sessions) as session:
        return session.get(Tenant, tenant.id).domain


def test_settings_link_to_the_domain_page_on_a_white_label_plan(client, db, brand):
    login(client, db, brand)
    settings = client.get(f"/t/{brand.slug}/panel/settings/").get_data(as_text=True)
    assert f'href="{page_url(brand)}"' in settings and "Dominio propio" in settings


def test_a_free_plan_has_no_domain_page(client, db, make_tenant):
    shop = make_tenant("gratis", plan="free")
    login(client, db, shop)
    settings = client.get(f"/t/{shop.slug}/panel/settings/").get_data(as_text=True)
    assert "/panel/settings/domain/" not in settings
    assert client.get(page_url(shop)).status_code == 404
    csrf = token(client, f"/t/{shop.slug}/panel/settings/")
    answer = client.post(page_url(shop), data={"domain": DOMAIN, "csrf_token": csrf})
    assert answer.status_code == 404
    assert client.post(page_url(shop) + "verify", data={"csrf_token": csrf}).status_code == 404
    assert stored(db, shop) is None


def test_the_owner_enters_the_domain_reads_the_records_and_verifies_it(
    client, db, brand, platform, dns_server
):
    login(client, db, brand)
    answer = enter(client, brand, "Puntos.CafeLaEsquina.co")
    assert answer.status_code == 302
    page = html.unescape(client.get(page_url(brand)).get_data(as_text=True))
    domain = stored(db, brand)
    assert domain.name == DOMAIN
    assert f"<td><code>{DOMAIN}</code></td><td><code>{TARGET}</code></td>" in page
    assert f"<code>_premia-verify.{DOMAIN}</code>" in page
    assert f"<code>premia-verify={domain.token}</code>" in page
    assert "espera su verificación" in page
    assert served(platform, brand) is None

    dns_server.cname(DOMAIN, TARGET)
    dns_server.txt(f"_premia-verify.{DOMAIN}", f"premia-verify={domain.token}")
    page = press(client, brand, "verify")
    assert ("success", "El dominio está verificado: tus clientes ya pueden usarlo.") in flashes(
        page.get_data(as_text=True)
    )
    assert served(platform, brand) == DOMAIN
    assert f"https://{DOMAIN}/app/" in page.get_data(as_text=True)


def test_verify_now_says_what_is_missing(client, db, brand, platform, dns_server):
    login(client, db, brand)
    enter(client, brand, DOMAIN)
    dns_server.cname(DOMAIN, TARGET)
    dns_server.txt(f"_premia-verify.{DOMAIN}", "premia-verify=de-otro")
    page = press(client, brand, "verify").get_data(as_text=True)
    assert (
        "error",
        "El registro TXT no tiene el código de verificación de este negocio.",
    ) in flashes(page)
    assert served(platform, brand) is None


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("no es un dominio", "Esto no es un nombre de dominio."),
        ("", "Escribe un dominio"),
        ("tienda.localhost", "Esta es una dirección de la plataforma"),
    ],
)
def test_a_bad_domain_is_a_form_error_in_the_merchants_language(client, db, brand, typed, message):
    login(client, db, brand)
    answer = enter(client, brand, typed)
    assert answer.status_code == 200
    text = html.unescape(answer.get_data(as_text=True))
    assert f'<p class="error" role="alert">{message}' in text
    assert stored(db, brand) is None


def test_another_merchants_served_domain_is_refused(client, db, brand, make_tenant, platform):
    make_tenant("otro", plan="white-label", domain=DOMAIN)
    login(client, db, brand)
    answer = enter(client, brand, DOMAIN)
    assert "Otro negocio usa este dominio." in html.unescape(answer.get_data(as_text=True))
    assert stored(db, brand) is None


def test_removing_the_domain(client, db, brand, platform):
    login(client, db, brand)
    enter(client, brand, DOMAIN)
    page = press(client, brand, "remove").get_data(as_text=True)
    assert ("success", "Se quitó el dominio; ya no se sirve.") in flashes(page)
    assert stored(db, brand) is None


def test_employees_get_403(client, db, brand):
    login(client, db, brand, Role.EMPLOYEE)
    assert client.get(page_url(brand)).status_code == 403
    csrf = token(client, f"/t/{brand.slug}/panel/")
    assert (
        client.post(page_url(brand), data={"domain": DOMAIN, "csrf_token": csrf}).status_code == 403
    )
    assert client.post(page_url(brand) + "verify", data={"csrf_token": csrf}).status_code == 403
    assert stored(db, brand) is None


def test_another_merchants_owner_reaches_nothing(client, db, brand, make_tenant, dns_server):
    other = make_tenant("otro", plan="white-label")
    with db(brand) as session:
        domains.set_domain(session, session.get(Tenant, brand.id), DOMAIN)
        session.commit()
    login(client, db, other)
    csrf = token(client, page_url(other))
    # Their session opens none of our pages: the login page, nothing changed.
    for action in ("", "verify", "remove"):
        answer = client.post(
            page_url(brand) + action, data={"domain": "x.example", "csrf_token": csrf}
        )
        assert answer.status_code == 302
        assert answer.location.startswith(f"/t/{brand.slug}/login")
    answer = client.get(page_url(brand))
    assert answer.status_code == 302 and answer.location.startswith(f"/t/{brand.slug}/login")
    assert stored(db, brand).name == DOMAIN
    # And on their own page, verify-now without a domain of theirs is a 404, never ours.
    assert client.post(page_url(other) + "verify", data={"csrf_token": csrf}).status_code == 404
    assert dns_server.queries == []


def test_a_failing_domain_shows_until_when_it_is_served_then_that_it_stopped(
    client, db, brand, platform, dns_server
):
    from datetime import UTC, datetime, timedelta

    from core.host.db import clock_at

    with db(brand) as session:
        domain = domains.set_domain(session, session.get(Tenant, brand.id), DOMAIN)
        session.commit()
    dns_server.cname(DOMAIN, TARGET)
    dns_server.txt(f"_premia-verify.{DOMAIN}", f"premia-verify={domain.token}")
    start = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    with clock_at(start):
        domains.tick()
    assert served(platform, brand) == DOMAIN
    dns_server.cname(DOMAIN, "otro-proveedor.example")
    with clock_at(start + timedelta(days=1, hours=1)):
        domains.tick()
    login(client, db, brand)
    page = html.unescape(client.get(page_url(brand)).get_data(as_text=True))
    # 16:00 UTC is 11:00 in Bogotá: failing since 2 Dec, served until 9 Dec.
    assert (
        "El dominio dejó de verificarse el 2/12/26, 11:00. Se sirve hasta el 9/12/26, 11:00" in page
    )
    assert "El registro CNAME del dominio apunta a otro servidor." in page
    with clock_at(start + timedelta(days=8, hours=2)):
        domains.tick()
    page = html.unescape(client.get(page_url(brand)).get_data(as_text=True))
    assert "ya no se sirve desde el 9/12/26, 12:00" in page
    assert served(platform, brand) is None
