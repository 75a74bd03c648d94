"""Staff login to a merchant's panel: the form, sessions across tenants, CSRF, rate limit."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from core.host.actors import Actor
from core.loyalty import ledger
from core.loyalty.members import Membership
from core.loyalty.program import update_program
from core.loyalty.rewards import cancel, create_reward, redeem_reward, request_reward
from core.loyalty.staff import Role, StaffUser, create_staff
from core.testing.factories import PASSWORD
from core.testing.weblogin import csrf_token, figures, flashes, login_token, post_login

STAFF = Actor.staff(1)
WRONG = "Wrong e-mail or password."


@pytest.fixture
def client(make_app):
    """A browser on an app of its own. (The `app` fixture keeps its app context pushed,
    and Flask reuses a pushed context, with its `g`, for every request of that app:
    the tenant, the database session and the logged-in user would carry over.)"""
    return make_app().test_client()


@pytest.fixture
def shop(make_tenant):
    return make_tenant(
        "cafe-a", name="Café Aroma", language="en", owner_email="duena@aroma.example"
    )


@pytest.fixture
def other(make_tenant):
    return make_tenant("bar-b", name="Bar Bravo", language="en", owner_email="dueno@bravo.example")


def _panel(client, slug: str):
    return client.get(f"/t/{slug}/panel/")


def _is_login_redirect(response, slug: str) -> bool:
    return response.status_code == 302 and response.location.split("?")[0].endswith(
        f"/t/{slug}/login"
    )


def test_login_redirects_to_the_panel_with_the_tenants_figures(
    shop, other, make_member, db, client
):
    ana, beto = make_member(shop), make_member(shop)
    intruder = make_member(other)
    with db(shop) as session:
        reward = create_reward(session, name="Café", points=41)
        create_reward(session, name="Retired", points=9, active=False)
        ledger.earn(session, session.get(Membership, ana.id), points=120, actor=STAFF)
        ledger.earn(session, session.get(Membership, beto.id), points=53, actor=STAFF)
        redeem_reward(session, session.get(Membership, ana.id), reward, actor=STAFF)
        # a customer's request cancelled by staff: refunded, neither issued nor redeemed
        update_program(session, {"customer_redemption_requests": True})
        request = request_reward(session, session.get(Membership, beto.id), reward)
        cancel(session, request, actor=STAFF)
        session.commit()
    with db(other) as session:
        ledger.earn(session, session.get(Membership, intruder.id), points=919, actor=STAFF)
        create_reward(session, name="Cerveza", points=7)
        session.commit()

    response = post_login(client, "cafe-a", "duena@aroma.example", PASSWORD)
    assert response.status_code == 302
    assert response.location.endswith("/t/cafe-a/panel/")

    page = client.get(response.location)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert figures(text) == {
        "New customers": "2",
        "Points issued": "173",
        "Points redeemed": "41",
        "Redemptions": "1",
        "Customers": "2",
        "Points outstanding": "132",
        "Active rewards": "1",
        "Pending requests": "0",
    }
    assert "Café Aroma" in text and ana.code in text and beto.code in text
    assert "Bar Bravo" not in text and intruder.code not in text and "919" not in text


@pytest.mark.parametrize(
    ("role", "landing"),
    [
        (Role.EMPLOYEE, "/t/cafe-a/panel/loyalty/"),
        (Role.ADMIN, "/t/cafe-a/panel/"),
    ],
)
def test_the_cashier_lands_on_fidelizacion_and_managers_on_inicio(shop, db, client, role, landing):
    with db(shop) as session:
        create_staff(
            session, email="staff@aroma.example", name="Staff", password=PASSWORD, role=role
        )
        session.commit()
    response = post_login(client, "cafe-a", "staff@aroma.example", PASSWORD)
    assert response.status_code == 302 and response.location.endswith(landing)
    assert client.get(response.location).status_code == 200


def test_the_panel_needs_a_login(shop, client):
    assert _is_login_redirect(_panel(client, "cafe-a"), "cafe-a")


def test_login_page_names_the_tenant(shop, client):
    page = client.get("/t/cafe-a/login")
    assert page.status_code == 200
    assert "Café Aroma" in page.get_data(as_text=True)


def test_wrong_password_and_unknown_email_answer_alike(shop, client):
    wrong_password = post_login(client, "cafe-a", "duena@aroma.example", "not-the-password")
    unknown_email = post_login(client, "cafe-a", "nadie@aroma.example", PASSWORD)
    malformed = post_login(client, "cafe-a", "not-an-email", PASSWORD)
    answers = {
        (r.status_code, tuple(flashes(r.get_data(as_text=True))))
        for r in (wrong_password, unknown_email, malformed)
    }
    assert answers == {(401, (("error", WRONG),))}
    assert _is_login_redirect(_panel(client, "cafe-a"), "cafe-a")


def test_email_is_matched_whatever_its_case(shop, client):
    response = post_login(client, "cafe-a", "  Duena@Aroma.EXAMPLE ", PASSWORD)
    assert response.status_code == 302
    assert _panel(client, "cafe-a").status_code == 200


def test_inactive_staff_cannot_log_in(shop, db, client):
    with db(shop) as session:
        create_staff(
            session,
            email="cajero@aroma.example",
            name="Cajero",
            password=PASSWORD,
            role=Role.EMPLOYEE,
        )
        session.execute(
            update(StaffUser).where(StaffUser.email == "cajero@aroma.example").values(active=False)
        )
        session.commit()
    response = post_login(client, "cafe-a", "cajero@aroma.example", PASSWORD)
    assert response.status_code == 401
    assert flashes(response.get_data(as_text=True)) == [("error", WRONG)]
    assert _is_login_redirect(_panel(client, "cafe-a"), "cafe-a")


def test_deactivated_staff_loses_an_open_session(shop, db, client):
    assert post_login(client, "cafe-a", "duena@aroma.example", PASSWORD).status_code == 302
    assert _panel(client, "cafe-a").status_code == 200
    with db(shop) as session:
        session.execute(update(StaffUser).values(active=False))
        session.commit()
    assert _is_login_redirect(_panel(client, "cafe-a"), "cafe-a")


def test_a_login_does_not_cross_tenants(shop, other, make_member, client):
    secret = make_member(other)
    assert post_login(client, "cafe-a", "duena@aroma.example", PASSWORD).status_code == 302
    assert _panel(client, "cafe-a").status_code == 200

    response = _panel(client, "bar-b")
    assert _is_login_redirect(response, "bar-b")
    assert "Bar Bravo" not in response.get_data(as_text=True)
    assert secret.code not in client.get("/t/bar-b/panel/", follow_redirects=True).get_data(
        as_text=True
    )
    # still logged in at home
    assert _panel(client, "cafe-a").status_code == 200


def test_staff_of_one_tenant_cannot_log_in_at_another(shop, other, client):
    response = post_login(client, "cafe-a", "dueno@bravo.example", PASSWORD)
    assert response.status_code == 401
    assert _is_login_redirect(_panel(client, "bar-b"), "bar-b")
    assert _is_login_redirect(_panel(client, "cafe-a"), "cafe-a")


def test_logout_ends_the_session(shop, client):
    assert post_login(client, "cafe-a", "duena@aroma.example", PASSWORD).status_code == 302
    page = _panel(client, "cafe-a")
    assert page.status_code == 200
    token = csrf_token(page.get_data(as_text=True))  # the log-out form's token

    response = client.post("/t/cafe-a/logout", data={"csrf_token": token})
    assert _is_login_redirect(response, "cafe-a")
    assert _is_login_redirect(_panel(client, "cafe-a"), "cafe-a")


def test_logout_without_csrf_token_is_refused(shop, client):
    assert post_login(client, "cafe-a", "duena@aroma.example", PASSWORD).status_code == 302
    assert client.post("/t/cafe-a/logout").status_code == 400
    assert _panel(client, "cafe-a").status_code == 200


def test_logout_is_post_only(shop, client):
    assert client.get("/t/cafe-a/logout").status_code == 405


def test_csrf_is_on_in_the_test_config(app):
    # Flask-WTF has no TESTING switch: the default test app keeps CSRF on.
    assert app.config["TESTING"] is True
    assert app.config["WTF_CSRF_ENABLED"] is True


def test_login_without_csrf_token_is_refused(make_app, shop):
    csrf_app = make_app(WTF_CSRF_ENABLED=True)
    client = csrf_app.test_client()
    for data in (
        {"email": "duena@aroma.example", "password": PASSWORD},
        {"email": "duena@aroma.example", "password": PASSWORD, "csrf_token": "forged"},
    ):
        response = client.post("/t/cafe-a/login", data=data)
        assert response.status_code == 400
    assert _is_login_redirect(_panel(client, "cafe-a"), "cafe-a")
    # control: with the token from the page, the same credentials work
    assert post_login(client, "cafe-a", "duena@aroma.example", PASSWORD).status_code == 302


def test_a_token_from_another_browser_session_is_refused(make_app, shop):
    csrf_app = make_app(WTF_CSRF_ENABLED=True)
    token = login_token(csrf_app.test_client(), "cafe-a")
    victim = csrf_app.test_client()
    response = post_login(victim, "cafe-a", "duena@aroma.example", PASSWORD, token=token)
    assert response.status_code == 400


def _limited_app(make_app, **extra):
    return make_app(PREMIA_LOGIN_LIMIT="3 per minute", **extra)


def _check_limit(client, slug: str, email: str) -> None:
    # Successful logins never count.
    for _ in range(4):
        assert post_login(client, slug, email, PASSWORD).status_code == 302
    for _ in range(3):
        assert post_login(client, slug, email, "wrong-password").status_code == 401
    blocked = post_login(client, slug, email, "wrong-password")
    assert blocked.status_code == 429
    assert ("error", "Too many failed attempts. Wait a minute and try again.") in flashes(
        blocked.get_data(as_text=True)
    )
    # While blocked even the right password is refused…
    assert post_login(client, slug, email, PASSWORD).status_code == 429


def test_failed_logins_are_rate_limited(make_app, make_tenant):
    limited = _limited_app(make_app)
    make_tenant("limitada", language="en", owner_email="rl-memory@limitada.example")
    client = limited.test_client()
    _check_limit(client, "limitada", "rl-memory@limitada.example")
    # …but another account is not blocked by these failures.
    assert post_login(client, "limitada", "otra@limitada.example", "x").status_code == 401


def test_failed_logins_from_one_address_are_limited_across_accounts(make_app, make_tenant):
    """Password spraying: one wrong password for many e-mails from one address."""
    app = make_app(PREMIA_LOGIN_LIMIT_PER_ADDRESS="4 per minute")
    make_tenant("rociada", language="en", owner_email="duena@rociada.example")
    client = app.test_client()
    for n in range(4):
        assert post_login(client, "rociada", f"user{n}@rociada.example", "x").status_code == 401
    assert post_login(client, "rociada", "user9@rociada.example", "x").status_code == 429
    other = app.test_client()  # another address is not blocked
    other.environ_base["REMOTE_ADDR"] = "10.9.8.7"
    assert post_login(other, "rociada", "duena@rociada.example", PASSWORD).status_code == 302


@pytest.mark.redis
def test_failed_logins_are_rate_limited_in_redis(make_app, make_tenant, redis_url):
    from redis import Redis

    limited = _limited_app(make_app, PREMIA_REDIS_URL=redis_url)
    make_tenant("limitada", language="en", owner_email="rl-redis@limitada.example")
    _check_limit(limited.test_client(), "limitada", "rl-redis@limitada.example")
    # the counters live in Redis, shared by every worker process
    assert any(b"rl-redis@limitada.example" in key for key in Redis.from_url(redis_url).scan_iter())


def test_passwords_are_stored_as_argon2id(shop, db, client):
    with db(shop) as session:
        create_staff(
            session, email="admin@aroma.example", name="Admin", password=PASSWORD, role=Role.ADMIN
        )
        session.commit()
        hashes = dict(session.execute(select(StaffUser.email, StaffUser.password_hash)).all())
    assert set(hashes) == {"duena@aroma.example", "admin@aroma.example"}
    assert all(h.startswith("$argon2id$") for h in hashes.values())
    assert all(PASSWORD not in h for h in hashes.values())
    assert len(set(hashes.values())) == 2  # salted: the same password hashes differently
    # logging in keeps an argon2id hash and records the login
    assert post_login(client, "cafe-a", "admin@aroma.example", PASSWORD).status_code == 302
    with db(shop) as session:
        user = session.scalar(select(StaffUser).where(StaffUser.email == "admin@aroma.example"))
        assert user.password_hash.startswith("$argon2id$")
        assert user.last_login_at is not None


def test_a_visitors_requests_leave_the_cookie_alone(client, shop):
    # The sign-in page gives the visitor a cookie (its CSRF token); what the page then
    # loads must not write the cookie again, or a slow one overwrites what a concurrent
    # request wrote (a social sign-in's state).
    login = client.get("/t/cafe-a/app/login")
    assert login.headers.getlist("Set-Cookie")
    for url in ("/t/cafe-a/app/icon-32.png", "/t/cafe-a/app/offline", "/t/cafe-a/login"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers.getlist("Set-Cookie") == [], url
