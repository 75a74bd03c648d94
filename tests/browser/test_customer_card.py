"""The customer's card, history and shared home on a phone (390×844, Debian's Chromium):
nothing scrolls sideways with a long merchant name, long location names and large
numbers, and the QR on the screen, as the cashier's camera sees it, reads as the
member's live code (their code and the current window's digits, see live_codes).
Screenshots: build/screenshots/phone-app-*.png."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import zxingcpp
from PIL import Image

from core.customer_app.sessions import COOKIE
from core.host.actors import Actor
from core.host.db import clock_at
from core.loyalty import ledger, live_codes
from core.loyalty.locations import create_location
from core.loyalty.members import Membership
from core.loyalty.program import update_program
from core.testing.weblogin import sign_in_customer
from tests.browser.conftest import PHONE, shoot

LONG_NAME = "Panadería y Pastelería Artesanal La Esquina del Barrio San Antonio"


def test_card_history_and_home_fit_a_phone_and_the_qr_scans(
    live_server, browser, app, db, make_tenant, make_member
):
    shop = make_tenant(slug="panaderia", name=LONG_NAME)
    other = make_tenant(slug="cafe", name="Café")
    ana = make_member(shop, "ana.maria.de.los.angeles@correo-muy-largo.example")
    make_member(other, "ana.maria.de.los.angeles@correo-muy-largo.example")
    # Earned on the 2nd of last month (Bogotá): it expires on the 2nd of this one, which
    # the next monthly run takes, whatever the day the test runs.
    here = datetime.now(ZoneInfo("America/Bogota"))
    earned = (here.replace(day=1) - timedelta(days=1)).replace(day=2, hour=10, minute=0)
    with db(shop) as session:
        update_program(session, {"expiry_months": 1})
        place = create_location(session, name="Sede Centro Comercial Gran Estación, local 2-114")
        session.flush()
        member = session.get(Membership, ana.id)
        for n in range(25):
            with clock_at(earned + timedelta(minutes=n)):
                ledger.earn(
                    session,
                    member,
                    points=123_456 + n,
                    actor=Actor.staff(None),
                    location_id=place.id,
                )
        session.commit()
    token = sign_in_customer(app.test_client(), app, ana, domain="127.0.0.1")
    context = browser.new_context(**PHONE, locale="es-CO")
    context.add_cookies([{"name": COOKIE, "value": token, "url": live_server.url}])
    page = context.new_page()
    too_wide = {}
    for name, path in (
        ("card", "/t/panaderia/app/"),
        ("history", "/t/panaderia/app/history"),
        ("home", "/app/"),
    ):
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
        shoot(page, f"phone-app-{name}")
        reach = page.evaluate("document.documentElement.scrollWidth")
        if reach > PHONE["viewport"]["width"]:
            too_wide[name] = reach
        if name == "card":
            assert page.locator(".expiring").count() == 1
            page.wait_for_function("document.querySelector('.app-card .qr').dataset.liveValue")
            screen = Image.open(io.BytesIO(page.screenshot()))
            (read,) = [r.text for r in zxingcpp.read_barcodes(screen)]
            code, digits = live_codes.parse(read)
            with db(ana.tenant_id) as session:
                secret = session.get(Membership, ana.id).live_secret
            assert code == ana.code and live_codes.verify(secret, digits)
        if name == "history":
            assert page.locator(".history li").count() == 20
    assert too_wide == {}
