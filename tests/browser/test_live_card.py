"""The card in airplane mode, its QR rotating: Ana opens Café Central's card once, the
phone goes offline, and the card still shows her code, her balance and "sin conexión ·
saldo al …"; its QR (read by zxing from Chromium's drawing) is a live code the till
accepts now, and 31 seconds later (the page's clock moved on) it is another one, still
accepted, drawn with no network at all."""

from __future__ import annotations

import io
import re

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from core.host.actors import Actor
from core.loyalty import live_codes
from core.loyalty.ledger.operations import earn
from core.loyalty.members import Membership
from core.loyalty.program import update_program
from core.testing.factories import FreshContextClient
from core.testing.weblogin import sign_in_customer
from tests.browser.conftest import PHONE, csp_violations, shoot


@pytest.fixture
def ana(make_tenant, make_member, db):
    cafe = make_tenant("cafe", name="Café Central")
    member = make_member(cafe, "ana@mail.example", first_name="Ana")
    with db(cafe) as session:
        update_program(session, {"live_code_for_redemptions": True})
        earn(session, session.get(Membership, member.id), points=1250, actor=Actor.system())
        session.commit()
    return member


def qr_text(page) -> str:
    picture = Image.open(io.BytesIO(page.locator(".app-card .qr").screenshot()))
    found = [barcode.text for barcode in zxingcpp.read_barcodes(picture)]
    assert len(found) == 1, found
    return found[0]


def secret_of(db, tenant_id, member_id) -> str:
    with db(tenant_id) as session:
        return session.get(Membership, member_id).live_secret


def test_the_card_and_its_rotating_qr_show_offline(live_server, browser, app, ana, db):
    base = live_server.url
    app.test_client_class = FreshContextClient
    token = sign_in_customer(app.test_client(), app, ana, domain="127.0.0.1")
    context = browser.new_context(**PHONE, locale="es-CO")
    violations = csp_violations(context)
    context.add_cookies([{"name": "member_session", "value": token, "url": base}])
    page = context.new_page()
    page.clock.install()  # the page's clock, moved on by hand below
    page.goto(f"{base}/t/cafe/app/")
    page.evaluate("navigator.serviceWorker.ready")
    page.reload()  # now under the worker, which keeps the card and the QR encoder
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    expect(page.locator("[data-offline-note]")).to_be_hidden()

    context.set_offline(True)
    page.reload()
    expect(page.locator(".app-card .code")).to_have_text(ana.code)
    expect(page.locator(".app-card .points")).to_contain_text("1.250")
    expect(page.locator("[data-offline-note]")).to_have_text(
        re.compile(r"^sin conexión · saldo al \d{1,2}/\d{1,2} \d{1,2}:\d{2}$")
    )
    page.wait_for_function("document.querySelector('.app-card .qr').dataset.liveValue")
    shoot(page, "app-live-card-offline")
    secret = secret_of(db, ana.tenant_id, ana.id)
    first = qr_text(page)
    assert first == page.locator(".app-card .qr").get_attribute("data-live-value")
    code, digits = live_codes.parse(first)
    now = page.evaluate("Date.now()") / 1000
    assert code == ana.code and live_codes.verify(secret, digits, now)

    page.clock.fast_forward(31_000)  # the next window, still offline
    page.wait_for_function(
        f"document.querySelector('.app-card .qr').dataset.liveValue !== '{first}'"
    )
    second = qr_text(page)
    later = page.evaluate("Date.now()") / 1000
    assert second != first and live_codes.verify(secret, live_codes.parse(second)[1], later)
    # the first code, shown on a photo: refused two minutes on
    assert not live_codes.verify(secret, digits, now + 120)
    context.set_offline(False)
    assert violations == []
    context.close()
