"""Staff sessions end on the server: a cookie copied before logout, a password change or
reset, or a deactivation opens nothing afterwards."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.host.db import clock_at, utcnow
from core.loyalty.staff import Role, StaffUser, create_staff, update_staff
from core.testing.factories import PASSWORD
from core.testing.weblogin import csrf_token, post_login
from core.web.staff_sessions import IDLE, StaffSession, forget_old_sessions

CUSTOMERS = "/t/acme/panel/customers/"
OWNER = "duena@acme.example"
CAJA = "caja@acme.example"


@pytest.fixture
def shop(make_tenant, db):
    tenant = make_tenant(slug="acme", name="Acme", owner_email=OWNER)
    with db(tenant) as session:
        create_staff(session, email=CAJA, name="Caja", password=PASSWORD, role=Role.EMPLOYEE)
        session.commit()
    return tenant


@pytest.fixture
def browser(make_app):
    """A new browser (test client) on one app, as many as a test needs."""
    app = make_app()
    return app.test_client


def _logged_in(browser, email=OWNER, password=PASSWORD):
    client = browser()
    assert post_login(client, "acme", email, password).status_code == 302
    assert client.get(CUSTOMERS).status_code == 200
    return client


def _with_cookie_of(browser, client):
    """Another browser holding a copy of `client`'s session cookie."""
    copy = browser()
    copy.set_cookie("session", client.get_cookie("session").value)
    return copy


def _opens_panel(client) -> bool:
    answer = client.get(CUSTOMERS)
    assert answer.status_code in (200, 302), answer.status_code
    return answer.status_code == 200


def _user_id(db, shop, email) -> int:
    with db(shop) as session:
        return session.scalar(select(StaffUser.id).where(StaffUser.email == email))


def test_a_cookie_copied_before_logout_opens_nothing_after_it(shop, browser):
    client = _logged_in(browser)
    copy = _with_cookie_of(browser, client)
    assert _opens_panel(copy)
    page = client.get(CUSTOMERS).get_data(as_text=True)
    assert client.post("/t/acme/logout", data={"csrf_token": csrf_token(page)}).status_code == 302
    assert not _opens_panel(copy)
    assert not _opens_panel(client)


def test_a_password_reset_ends_every_session(shop, browser, smtp_server):
    before = _logged_in(browser)
    other = browser()
    page = other.get("/t/acme/password/forgot").get_data(as_text=True)
    other.post("/t/acme/password/forgot", data={"email": OWNER, "csrf_token": csrf_token(page)})
    mail = smtp_server.handler.wait_for(1)[0]
    text = next(p for p in mail.walk() if p.get_content_type() == "text/plain")
    link = re.search(r"/t/acme/password/reset/\S+", text.get_payload(decode=True).decode())
    path = link.group(0)
    form = other.get(path).get_data(as_text=True)
    done = other.post(
        path,
        data={
            "password": "nueva-clave-123",
            "confirm": "nueva-clave-123",
            "csrf_token": csrf_token(form),
        },
    )
    assert done.status_code == 302
    assert not _opens_panel(before)
    assert _opens_panel(_logged_in(browser, password="nueva-clave-123"))


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(shop, browser, db):
    elsewhere = _logged_in(browser)
    copy = _with_cookie_of(browser, elsewhere)
    here = _logged_in(browser)
    page = here.get("/t/acme/panel/profile/").get_data(as_text=True)
    changed = here.post(
        "/t/acme/panel/profile/",
        data={
            "name": "Dueña",
            "email": OWNER,
            "current_password": PASSWORD,
            "new_password": "otra-clave-larga",
            "confirm": "otra-clave-larga",
            "csrf_token": csrf_token(page),
        },
    )
    assert changed.status_code == 302
    assert _opens_panel(here)
    assert not _opens_panel(elsewhere) and not _opens_panel(copy)
    with db(shop) as session:
        ended = session.scalars(select(StaffSession.ended_at).order_by(StaffSession.id)).all()
    assert [moment is not None for moment in ended] == [True, False]


def test_a_password_set_by_a_manager_ends_the_staff_members_sessions(shop, browser, db):
    cashier = _logged_in(browser, CAJA)
    with db(shop) as session:
        user = session.get(StaffUser, _user_id(db, shop, CAJA))
        update_staff(session, user, by=None, password="clave-nueva-456")
        session.commit()
    assert not _opens_panel(cashier)


def test_deactivation_ends_the_sessions_and_reactivation_does_not_revive_them(shop, browser, db):
    cashier = _logged_in(browser, CAJA)
    for active in (False, True):
        with db(shop) as session:
            user = session.get(StaffUser, _user_id(db, shop, CAJA))
            update_staff(session, user, by=None, active=active)
            session.commit()
        assert not _opens_panel(cashier)
    assert _opens_panel(_logged_in(browser, CAJA))


def test_a_session_of_one_merchant_opens_nothing_at_another(shop, make_tenant, browser):
    make_tenant(slug="otra", owner_email=OWNER)
    client = _logged_in(browser)
    assert client.get("/t/otra/panel/customers/").status_code == 302


def test_last_use_is_written_once_in_a_while(shop, browser, db):
    client = _logged_in(browser)
    with db(shop) as session:
        opened = session.scalars(select(StaffSession.last_seen_at)).one()
    later = utcnow() + timedelta(minutes=10)
    with clock_at(later):
        assert _opens_panel(client)
    with db(shop) as session:
        assert session.scalars(select(StaffSession.last_seen_at)).one() == later != opened


def test_a_session_unused_for_a_month_ends_and_is_forgotten(shop, browser, db):
    kept, idle, ended = (_logged_in(browser) for _ in range(3))
    page = ended.get(CUSTOMERS).get_data(as_text=True)
    assert ended.post("/t/acme/logout", data={"csrf_token": csrf_token(page)}).status_code == 302
    start = utcnow()
    with clock_at(start + IDLE - timedelta(minutes=1)):
        assert _opens_panel(kept)  # used in time: it goes on
    with clock_at(start + IDLE + timedelta(minutes=1)):
        assert not _opens_panel(idle)
        assert _opens_panel(kept)
        assert forget_old_sessions() == 2  # the idle one and the ended one
    with db(shop) as session:
        assert session.scalar(select(func.count(StaffSession.id))) == 1
