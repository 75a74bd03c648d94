"""The customer app on a phone (390×844, Debian's Chromium): every app page, found
from the URL map and the pages' links (so pages added later are covered), fits the
screen with no sideways scrolling, signed in and out; the app installs (manifest,
service worker in the face's scope) and shows the last copy of the card offline; a
brand's own domain opens its app at `/`, signs in and never says "Premia".
Screenshots: build/screenshots/app-*.png."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Playwright, expect
from sqlalchemy import update

from core.host.actors import Actor
from core.host.db import platform_session, utcnow
from core.loyalty.ledger.operations import earn
from core.loyalty.members import Customer, Membership
from core.loyalty.program import update_program
from core.loyalty.rewards import create_reward, get_reward, request_reward
from core.testing.factories import PASSWORD, FreshContextClient
from core.testing.weblogin import sign_in_customer
from core.web.passwords import hash_password
from tests.browser.conftest import ARGS, CHROMIUM, PHONE, csp_violations, shoot
from tests.core.customer_app import gifts_plugin, requests_plugin
from tests.core.customer_app.pages import crawl, merchant_rules, plain_paths, shared_rules

WIDTH = PHONE["viewport"]["width"]
REACH = "document.documentElement.scrollWidth"
BRAND = "puntos.marca.example"
LONG_NAME = "Panadería y Pastelería La Espiga Dorada de la Calle Mayor"


@pytest.fixture
def app(make_app):
    """Served for real, with the test plugins that add app pages (one with ids)."""
    application = make_app(SERVER_NAME=None, PREMIA_EXTRA_PLUGINS=[gifts_plugin, requests_plugin])
    with application.app_context():
        yield application


@pytest.fixture
def shops(app, make_plan, make_tenant, make_member, db, platform):
    """A merchant with a long name (the worst case for a phone's bar) and a brand, every
    plugin active; Ana is a member of both, with points and a pending request."""
    make_plan("everything", set(platform.plugins.infos))
    cafe = make_tenant("cafe", name=LONG_NAME, plan="everything")
    brand = make_tenant("marca", name="Marca Propia", domain=BRAND, plan="everything")
    members = {}
    for tenant in (cafe, brand):
        member = make_member(tenant, "ana@mail.example", first_name="Ana")
        with db(tenant) as session:
            update_program(session, {"customer_redemption_requests": True})
            reward = create_reward(session, name="Desayuno completo para dos", points=100)
            loaded = session.get(Membership, member.id)
            earn(session, loaded, points=1250, actor=Actor.system())
            request_reward(session, loaded, get_reward(session, reward.id))
            session.commit()
        members[tenant.slug] = member
    with platform_session(platform.sessions) as session:
        session.execute(
            update(Customer)
            .where(Customer.id == members["cafe"].customer_id)
            .values(password_hash=hash_password(PASSWORD), email_confirmed_at=utcnow())
        )
        session.commit()
    return members


def _client(app):
    # Each request in an app context of its own (the fixture keeps one pushed).
    app.test_client_class = FreshContextClient
    return app.test_client()


def _phone(browser: Browser):
    return browser.new_context(**PHONE, locale="es-CO")


def _app_pages(app, client, base: str) -> list[str]:
    """Every HTML page of the shared app and of the café's, as the client reaches them."""
    starts = list(plain_paths(app, shared_rules(app)).values())
    starts += list(plain_paths(app, merchant_rules(app), "cafe").values())
    visits = crawl(
        client, starts, base_url=base, within=lambda p: p.startswith(("/app", "/t/cafe/app"))
    )
    return sorted(p for p, v in visits.items() if v.content_type == "text/html" and v.status == 200)


def _installability_errors(context, page) -> list:
    """What Chromium says stops the page from installing (its own criteria: a manifest
    with names, icons, a start URL and display, a service worker that handles fetch)."""
    cdp = context.new_cdp_session(page)
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    # A Playwright context is incognito, where Chromium installs nothing whatever the page.
    return [error for error in errors if error["errorId"] != "in-incognito"]


def _name(path: str) -> str:
    return re.sub(r"\W+", "-", path.strip("/")) or "root"


def test_every_app_page_fits_a_phone(live_server, browser, app, shops):
    base = live_server.url
    client = _client(app)
    out_pages = _app_pages(app, client, base)
    token = sign_in_customer(client, app, shops["cafe"], domain="127.0.0.1")
    in_pages = _app_pages(app, client, base)
    assert {"/app/", "/t/cafe/app/", "/t/cafe/app/gifts/"} <= set(in_pages), in_pages
    assert any(re.fullmatch(r"/t/cafe/app/asks/\d+", p) for p in in_pages)  # a page with an id
    too_wide: dict[str, int] = {}
    context = _phone(browser)
    violations = csp_violations(context)
    page = context.new_page()
    for signed_in, paths in ((False, out_pages), (True, in_pages)):
        if signed_in:
            context.add_cookies([{"name": "member_session", "value": token, "url": base}])
        for path in paths:
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
            shoot(page, f"app-{'in' if signed_in else 'out'}-{_name(path)}")
            reach = page.evaluate(REACH)
            if reach > page.evaluate("innerWidth"):
                too_wide[path] = reach
    assert too_wide == {}, f"pages wider than {WIDTH} px: {too_wide}"
    assert violations == []
    context.close()


def test_the_app_installs_and_shows_the_card_offline(live_server, browser, app, shops):
    base, member = live_server.url, shops["cafe"]
    token = sign_in_customer(_client(app), app, member, domain="127.0.0.1")
    context = _phone(browser)
    violations = csp_violations(context)
    context.add_cookies([{"name": "member_session", "value": token, "url": base}])
    page = context.new_page()
    page.goto(f"{base}/t/cafe/app/")
    scope = page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
    assert scope == f"{base}/t/cafe/app/"
    manifest = page.evaluate(
        "fetch(document.querySelector('link[rel=manifest]').href).then(r => r.json())"
    )
    assert manifest["name"] == LONG_NAME and manifest["scope"] == "/t/cafe/app/"
    assert _installability_errors(context, page) == []
    page.reload()  # now under the worker, which keeps a copy of the card
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    context.set_offline(True)
    page.reload()
    expect(page.locator(".app-card .code")).to_have_text(member.code)
    shoot(page, "app-offline-card")
    page.goto(f"{base}/t/cafe/app/gifts/")  # never opened: the offline page
    expect(page.get_by_role("heading", name="Sin conexión")).to_be_visible()
    assert page.evaluate(REACH) <= WIDTH
    shoot(page, "app-offline-page")
    # Signing out forgets the copies: the phone shows nobody's card offline any more.
    context.set_offline(False)
    page.goto(f"{base}/t/cafe/app/")
    page.get_by_role("button", name="Cerrar sesión").click()
    page.wait_for_url(re.compile(r"/t/cafe/app/login"))
    context.set_offline(True)
    page.goto(f"{base}/t/cafe/app/")
    expect(page.get_by_role("heading", name="Sin conexión")).to_be_visible()
    assert member.code not in page.content()
    context.set_offline(False)
    assert violations == []
    context.close()


def test_a_brands_domain_end_to_end(live_server, playwright: Playwright, app, shops):
    port = urlsplit(live_server.url).port
    origin = f"http://{BRAND}:{port}"
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            *ARGS,
            f"--host-resolver-rules=MAP {BRAND} 127.0.0.1",
            # A service worker needs a secure origin; production serves brands on https.
            f"--unsafely-treat-insecure-origin-as-secure={origin}",
        ],
    )
    try:
        context = _phone(chromium)
        violations = csp_violations(context)
        page = context.new_page()
        page.goto(origin + "/")
        assert urlsplit(page.url).path == "/app/login"
        expect(page).to_have_title(re.compile("Marca Propia"))
        page.get_by_label("Correo electrónico").fill("ana@mail.example")
        page.get_by_label("Contraseña").fill(PASSWORD)
        page.get_by_role("button", name="Ingresar").click()
        expect(page.locator(".app-card .code")).to_have_text(shops["marca"].code)
        assert page.url == origin + "/app/"
        scope = page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
        assert scope == origin + "/app/"
        shoot(page, "app-brand-card")
        assert _installability_errors(context, page) == []
        for link in page.locator("a").all():
            href = link.get_attribute("href") or ""
            assert not href.startswith("/t/"), href  # the brand's own addresses
        text = page.content() + page.evaluate(
            "fetch('/app/manifest.webmanifest').then(r => r.text())"
        )
        assert "premia" not in text.lower()
        assert LONG_NAME not in text and shops["cafe"].code not in text
        assert page.evaluate(REACH) <= WIDTH
        assert violations == []
    finally:
        chromium.close()
