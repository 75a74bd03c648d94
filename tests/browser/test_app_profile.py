"""The customer app's profile and data pages on a phone (390 px, nothing scrolls
sideways): save a profile in another language, download the data, delete the account."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from core.customer_app.sessions import COOKIE
from core.host.db import platform_session, utcnow
from core.loyalty.members import Customer, Membership
from core.testing.factories import PASSWORD
from core.testing.weblogin import sign_in_customer
from core.web.passwords import hash_password
from tests.browser.conftest import PHONE, shoot

REACH = "document.documentElement.scrollWidth"


def test_profile_download_and_deletion_on_a_phone(
    live_server, browser, app, platform, make_tenant, make_member
):
    shop = make_tenant(slug="cafe", name="Café Central")
    member = make_member(shop, "ana@mail.example", first_name="Anita", last_name="Ruiz")
    with platform_session(platform.sessions) as session:
        account = session.get(Customer, member.customer_id)
        account.password_hash = hash_password(PASSWORD)
        account.email_confirmed_at = utcnow()  # a confirmed account signs in
        session.commit()
    context = browser.new_context(**PHONE, locale="es-CO", accept_downloads=True)
    token = sign_in_customer(app.test_client(), app, member)
    context.add_cookies([{"name": COOKIE, "value": token, "url": live_server.url}])
    page = context.new_page()
    base = f"{live_server.url}/t/cafe/app"

    page.goto(f"{base}/profile")
    assert page.evaluate(REACH) <= PHONE["viewport"]["width"]
    page.get_by_label("Nombre", exact=True).fill("Ana María")
    page.get_by_label("Teléfono").fill("+57 300 123 4567")
    page.get_by_label("Idioma").select_option("en")
    page.get_by_label("Puntos que recibo").uncheck()
    page.get_by_role("button", name="Guardar").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="My profile").is_visible()  # now in English
    assert page.get_by_role("alert").inner_text() == "Your profile was saved."
    assert page.get_by_label("Points I receive").is_checked() is False
    shoot(page, "app-profile")
    assert page.evaluate(REACH) <= PHONE["viewport"]["width"]
    with platform_session(platform.sessions) as session:
        record = session.get(Membership, member.id)
        assert (record.first_name, record.last_name, record.phone) == (
            "Ana María",
            "Ruiz",
            "+57 300 123 4567",
        )

    page.get_by_role("link", name="My data: download it or delete my account").click()
    page.wait_for_load_state()
    assert page.evaluate(REACH) <= PHONE["viewport"]["width"]
    with page.expect_download() as download:
        page.get_by_role("link", name="Download (JSON)").click()
    data = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert [m["merchant"] for m in data["memberships"]] == ["Café Central"]

    page.get_by_label("Your password, to confirm").fill(PASSWORD)
    page.get_by_role("button", name="Delete my account").click()
    page.wait_for_load_state()
    assert "/app/login" in page.url
    shoot(page, "app-account-deleted")
    with platform_session(platform.sessions) as session:
        assert session.scalar(select(Customer.deleted_at).where(Customer.id == member.customer_id))
