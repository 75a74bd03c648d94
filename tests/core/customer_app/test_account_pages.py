"""The customer app's account pages as a person goes through them: registering on the
shared app, on a merchant's pages and on a brand's domain, the e-mail's link, signing
in (rate-limited), a forgotten password and a merchant's invitation; the e-mails are
caught by a real SMTP server and their links opened."""

from __future__ import annotations

import re
from email.header import decode_header, make_header

import pytest
from sqlalchemy import select

from core.customer_app.sessions import COOKIE
from core.host.db import platform_session
from core.loyalty import invitations
from core.loyalty.members import Customer, Membership
from core.loyalty.program import update_program
from core.testing.factories import PASSWORD as STAFF_PASSWORD
from core.testing.factories import FreshContextClient
from core.testing.weblogin import csrf_token, flashes, owner_email, post_login, sign_in_customer

PASSWORD = "mi-clave-de-cafe-7"
LINK = re.compile(r"https?://[^/\s]+(\S*?/app/(?:confirm|password/reset|invitation)/[\w.\-]+)")
BRAND = "puntos.marca.example"


def text_of(message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")


def subject(message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def path_in(message) -> str:
    """The path of the link in an e-mail (the test client speaks to localhost)."""
    return LINK.search(text_of(message)).group(1)


def post_form(client, url: str, data: dict, **kwargs):
    page = client.get(url, **kwargs)
    assert page.status_code == 200, (url, page.status_code)
    return client.post(
        url, data={**data, "csrf_token": csrf_token(page.get_data(as_text=True))}, **kwargs
    )


def register(client, prefix: str = "", **changes):
    data = {"email": "ana@mail.example", "password": PASSWORD, "first_name": "Ana", **changes}
    return post_form(client, f"{prefix}/app/register", data)


def sign_in(client, prefix: str = "", email: str = "ana@mail.example", password: str = PASSWORD):
    return post_form(client, f"{prefix}/app/login", {"email": email, "password": password})


def same_page(page: str, email: str) -> str:
    """The page without what differs by design: the e-mail typed, the CSP nonce."""
    return re.sub(r'nonce="[^"]+"', "", page.replace(email, "X"))


def account(platform, email: str) -> Customer | None:
    with platform_session(platform.sessions) as session:
        return session.scalar(select(Customer).where(Customer.email == email))


def test_register_on_the_shared_app_then_the_mailed_link_confirms_and_signs_in(
    client, platform, smtp_server
):
    sent = register(client)
    assert sent.status_code == 200 and "ana@mail.example" in sent.get_data(as_text=True)
    assert client.get_cookie(COOKIE) is None
    # Unconfirmed: the right password does not sign in, and a new link is offered.
    early = sign_in(client)
    assert early.status_code == 403 and "/app/confirm" in early.get_data(as_text=True)
    assert client.get_cookie(COOKIE) is None
    [mail] = smtp_server.handler.wait_for(1)
    assert mail["To"] == "ana@mail.example"
    assert subject(mail) == "Confirma tu correo en Premia"
    opened = client.get(path_in(mail))
    assert opened.status_code == 302 and opened.location.endswith("/app/")
    assert client.get_cookie(COOKIE) is not None
    home = client.get("/app/")
    assert home.status_code == 200
    assert ("success", "Tu correo está confirmado. ¡Bienvenido!") in flashes(
        home.get_data(as_text=True)
    )
    assert account(platform, "ana@mail.example").email_confirmed_at is not None
    # Opened again: already confirmed, and it signs nobody in.
    client.post("/app/logout", data={"csrf_token": csrf_token(home.get_data(as_text=True))})
    again = client.get(path_in(mail))
    assert again.status_code == 409 and "ya está confirmado" in again.get_data(as_text=True)
    assert client.get("/app/").status_code == 302
    assert sign_in(client).status_code == 302


def test_register_on_a_merchants_pages_makes_a_member_with_welcome_points(
    client, db, make_tenant, smtp_server
):
    shop = make_tenant(slug="cafe", name="Café Azul")
    with db(shop) as session:
        update_program(session, {"welcome_points": 50})
        session.commit()
    assert register(client, "/t/cafe").status_code == 200
    [mail] = smtp_server.handler.wait_for(1)
    assert subject(mail) == "Confirma tu correo en Café Azul"
    assert str(make_header(decode_header(mail["From"]))).startswith("Café Azul <")
    with db(shop) as session:
        assert session.scalars(select(Membership)).all() == []
    opened = client.get(path_in(mail))
    assert opened.status_code == 302 and opened.location.endswith("/t/cafe/app/")
    card = client.get("/t/cafe/app/").get_data(as_text=True)
    with db(shop) as session:
        member = session.scalars(select(Membership)).one()
        assert (member.balance, member.first_name, member.joined_via) == (50, "Ana", "app")
    assert member.code in card and "50 puntos" in card


def test_a_brands_mail_and_link_are_on_its_domain_and_never_say_premia(
    client, make_tenant, smtp_server
):
    make_tenant(slug="marca", name="Marca", plan="white-label", domain=BRAND)
    base = f"http://{BRAND}"
    page = client.get("/app/register", base_url=base)
    assert page.status_code == 200 and "Premia" not in page.get_data(as_text=True)
    data = {"email": "ana@mail.example", "password": PASSWORD}
    sent = client.post(
        "/app/register",
        base_url=base,
        data={**data, "csrf_token": csrf_token(page.get_data(as_text=True))},
    )
    assert sent.status_code == 200 and "Premia" not in sent.get_data(as_text=True)
    [mail] = smtp_server.handler.wait_for(1)
    assert "Premia" not in mail.as_string() and "Premia" not in subject(mail)
    link = LINK.search(text_of(mail)).group(0)
    assert link.startswith(f"https://{BRAND}/app/confirm/")
    opened = client.get(link.removeprefix(f"https://{BRAND}"), base_url=base)
    assert opened.status_code == 302 and opened.location.endswith("/app/")
    assert "Premia" not in client.get("/app/", base_url=base).get_data(as_text=True)
    for url in ("/app/login", "/app/password/forgot", "/app/confirm", "/app/confirm/forged"):
        shown = client.get(url, base_url=base)
        assert shown.status_code in (200, 404) and "Premia" not in shown.get_data(as_text=True)
    # The reset and "you already have an account" mails too, their links on the domain.
    post_form(client, "/app/password/forgot", {"email": "ana@mail.example"}, base_url=base)
    post_form(client, "/app/register", data, base_url=base)
    mails = smtp_server.handler.wait_for(4)  # with the merchant's welcome on joining
    assert not [m for m in mails if "Premia" in m.as_string() or "Premia" in subject(m)]
    resets = [m for m in mails if "/app/password/reset/" in text_of(m)]
    assert len(resets) == 2
    for sent_mail in resets:
        link = LINK.search(text_of(sent_mail)).group(0)
        assert link.startswith(f"https://{BRAND}/app/password/reset/")
        reset = client.get(link.removeprefix(f"https://{BRAND}"), base_url=base)
        assert reset.status_code == 200 and "Premia" not in reset.get_data(as_text=True)


def test_bad_input_shows_translated_errors_and_keeps_nothing(client, platform, smtp_server):
    for changes, expected, language in [
        ({"password": "corta"}, "La contraseña debe tener al menos 8 caracteres.", "es"),
        ({"password": "password123"}, "This password is one of the most used", "en"),
        ({"password": "qwertyuiop"}, "Esta senha é uma das mais usadas", "pt-BR"),
        ({"email": "no-es-correo"}, "Ingresa un correo electrónico válido.", "es"),
        ({"email": ""}, "Obligatorio.", "es"),
        ({"first_name": "x" * 121}, "Máximo 120 caracteres.", "es"),
    ]:
        headers = {"Accept-Language": language}
        page = client.get("/app/register", headers=headers).get_data(as_text=True)
        data = {"email": "ana@mail.example", "password": PASSWORD, **changes}
        answer = client.post(
            "/app/register", headers=headers, data={**data, "csrf_token": csrf_token(page)}
        )
        assert answer.status_code == 422, changes
        assert 'class="field-error"' in answer.get_data(as_text=True)
        assert expected in answer.get_data(as_text=True), changes
    assert account(platform, "ana@mail.example") is None
    assert smtp_server.handler.wait_for(1, timeout=0.3) == []


def test_an_email_with_an_account_gets_the_same_page_and_a_mail_instead(
    client, platform, make_tenant, make_member, smtp_server
):
    make_member(make_tenant(slug="cafe"), "eva@mail.example")
    assert register(client, email="ana@mail.example").status_code == 200
    smtp_server.handler.wait_for(1)
    smtp_server.handler.messages.clear()
    before = account(platform, "ana@mail.example")
    fresh = register(client, email="nueva@mail.example").get_data(as_text=True)
    known = register(client, email="ana@mail.example", password="otra-clave-de-te-9")
    assert known.status_code == 200
    page = known.get_data(as_text=True)
    assert same_page(page, "ana@mail.example") == same_page(fresh, "nueva@mail.example")
    after = account(platform, "ana@mail.example")
    assert after.password_hash == before.password_hash and after.first_name == "Ana"
    mails = smtp_server.handler.wait_for(2)
    existing = next(m for m in mails if m["To"] == "ana@mail.example")
    assert subject(existing).startswith("Ya tienes una cuenta")
    assert "/app/password/reset/" in path_in(existing)
    # The merchant's customer (no password yet) registering gets the same mail.
    register(client, email="eva@mail.example")
    assert "/app/password/reset/" in path_in(smtp_server.handler.wait_for(3)[-1])
    assert account(platform, "eva@mail.example").password_hash is None


def test_failed_sign_ins_give_one_message_and_are_limited(make_app, make_tenant, smtp_server):
    app = make_app(PREMIA_LOGIN_LIMIT="3 per minute")
    app.test_client_class = FreshContextClient
    with app.app_context():
        client = app.test_client()
        register(client)
        client.get(path_in(smtp_server.handler.wait_for(1)[0]))
        client = app.test_client()  # confirmed; now signing in from another browser
        wrong = sign_in(client, password="no-es-esta-clave")
        unknown = sign_in(client, email="nadie@mail.example")
        again = client.post(
            "/app/login?next=/app/profile",
            data={
                "email": "x@mail.example",
                "password": "y",
                "csrf_token": csrf_token(client.get("/app/login").get_data(as_text=True)),
            },
        )  # a failure keeps where the person was going
        assert 'name="next" value="/app/profile"' in again.get_data(as_text=True)
        assert wrong.status_code == unknown.status_code == 401
        assert flashes(wrong.get_data(as_text=True)) == flashes(unknown.get_data(as_text=True))
        assert ("error", "Correo electrónico o contraseña incorrectos.") in flashes(
            wrong.get_data(as_text=True)
        )
        for _attempt in range(2):
            sign_in(client, password="no-es-esta-clave")
        refused = sign_in(client)  # the right password, past the limit
        assert refused.status_code == 429
        assert client.get_cookie(COOKIE) is None
        # Another account from the same address is still counted apart.
        assert sign_in(client, email="otra@mail.example").status_code == 401


def test_a_password_reset_confirms_and_ends_the_other_sessions(
    client, app, platform, make_tenant, smtp_server
):
    register(client)
    smtp_server.handler.wait_for(1)
    ana = account(platform, "ana@mail.example")
    phone = app.test_client()
    sign_in_customer(phone, app, ana)  # an older session, on another device
    assert phone.get("/app/").status_code == 200
    asked = post_form(client, "/app/password/forgot", {"email": "ana@mail.example"})
    assert asked.status_code == 302
    unknown = post_form(client, "/app/password/forgot", {"email": "nadie@mail.example"})
    assert unknown.status_code == 302
    mails = smtp_server.handler.wait_for(2)
    assert len(smtp_server.handler.wait_for(3, timeout=0.3)) == 2  # none for nobody
    path = path_in(mails[-1])
    mismatch = post_form(client, path, {"password": "otra-clave-larga-8", "confirm": "otra"})
    assert mismatch.status_code == 422
    weak = post_form(client, path, {"password": "12345678", "confirm": "12345678"})
    assert weak.status_code == 422 and "más usadas" in weak.get_data(as_text=True)
    done = post_form(
        client, path, {"password": "otra-clave-larga-8", "confirm": "otra-clave-larga-8"}
    )
    assert done.status_code == 302 and done.location.endswith("/app/")
    assert client.get("/app/").status_code == 200  # signed in here
    assert phone.get("/app/").status_code == 302  # and out everywhere else
    assert account(platform, "ana@mail.example").email_confirmed_at is not None
    used = client.get(path)
    assert used.status_code == 404 and "caducó o ya se usó" in used.get_data(as_text=True)
    assert "/app/password/forgot" in used.get_data(as_text=True)


def test_too_many_mail_requests_are_refused(make_app, smtp_server):
    app = make_app(PREMIA_PASSWORD_RESET_LIMIT="2 per hour")
    app.test_client_class = FreshContextClient
    with app.app_context():
        client = app.test_client()
        for _attempt in range(2):
            post_form(client, "/app/password/forgot", {"email": "ana@mail.example"})
        assert (
            post_form(client, "/app/password/forgot", {"email": "ana@mail.example"}).status_code
            == 429
        )
        assert register(client).status_code == 429  # the same counter: it mails that e-mail
        assert smtp_server.handler.wait_for(1, timeout=0.3) == []


def test_one_address_cannot_make_the_forms_mail_many_addresses(make_app, smtp_server):
    app = make_app(PREMIA_MAIL_REQUEST_LIMIT_PER_ADDRESS="3 per hour")
    app.test_client_class = FreshContextClient
    with app.app_context():
        client = app.test_client()
        answers = [
            post_form(client, "/app/password/forgot", {"email": f"p{n}@mail.example"})
            for n in range(4)
        ]
        assert [a.status_code for a in answers[:3]] == [302, 302, 302]
        assert answers[3].status_code == 429


def test_an_invitation_from_the_panel_leads_to_the_card_signed_in(
    client, db, platform, make_tenant, smtp_server
):
    shop = make_tenant(slug="cafe", name="Café Azul")
    staff = client.application.test_client()
    assert post_login(staff, "cafe", owner_email(db, shop), STAFF_PASSWORD).status_code == 302
    invited = post_form(staff, "/t/cafe/panel/customers/invite", {"email": "marta@mail.example"})
    assert invited.status_code in (200, 302)
    mail = next(m for m in smtp_server.handler.wait_for(2) if "invita" in subject(m))
    path = path_in(mail)
    assert path.startswith("/t/cafe/app/invitation/")
    page = client.get(path)
    assert page.status_code == 200 and "marta@mail.example" in page.get_data(as_text=True)
    done = post_form(client, path, {"password": PASSWORD, "confirm": PASSWORD})
    assert done.status_code == 302 and done.location.endswith("/t/cafe/app/")
    card = client.get(done.location).get_data(as_text=True)
    with db(shop) as session:
        member = session.scalars(select(Membership)).one()
    assert member.code in card
    marta = account(platform, "marta@mail.example")
    assert marta.email_confirmed_at is not None
    # Used: it says so and offers a new one, which the merchant's invitation brings again.
    smtp_server.handler.messages.clear()
    client = client.application.test_client()  # another browser
    used = client.get(path)
    text = used.get_data(as_text=True)
    assert used.status_code == 404 and "caducó o ya se usó" in text
    renew = re.search(r'action="([^"]+/renew)"', text).group(1)
    sent = client.post(renew, data={"csrf_token": csrf_token(text)})
    assert sent.status_code == 302
    [again] = smtp_server.handler.wait_for(1)
    assert again["To"] == "marta@mail.example"
    assert "/t/cafe/app/login" in text_of(again)  # her account is confirmed now: sign in
    # On another merchant's pages the link opens nothing.
    make_tenant(slug="bar")
    assert client.get(path.replace("/t/cafe/", "/t/bar/")).status_code == 404
    assert (
        client.post(
            renew.replace("/t/cafe/", "/t/bar/"), data={"csrf_token": csrf_token(text)}
        ).status_code
        == 404
    )


def test_an_expired_invitation_offers_a_new_link(
    client, db, make_tenant, make_member, smtp_server, monkeypatch
):
    shop = make_tenant(slug="cafe")
    member = make_member(shop, "marta@mail.example")
    smtp_server.handler.messages.clear()
    with client.application.app_context():
        invitations.send_invitation(shop.id, member.id)
    path = path_in(smtp_server.handler.wait_for(1)[0])
    monkeypatch.setattr(invitations, "LINK_MAX_AGE", -1)
    expired = client.get(path)
    text = expired.get_data(as_text=True)
    assert expired.status_code == 404 and "caducó" in text
    renew = re.search(r'action="([^"]+/renew)"', text).group(1)
    monkeypatch.setattr(invitations, "LINK_MAX_AGE", 3600)
    client.post(renew, data={"csrf_token": csrf_token(text)})
    fresh = path_in(smtp_server.handler.wait_for(2)[-1])
    assert client.get(fresh).status_code == 200  # a working link again


@pytest.mark.parametrize(
    "url", ["/app/register", "/app/login", "/app/password/forgot", "/app/confirm"]
)
def test_forms_without_the_csrf_token_are_refused(client, platform, smtp_server, url):
    answer = client.post(url, data={"email": "ana@mail.example", "password": PASSWORD})
    assert answer.status_code == 400
    assert account(platform, "ana@mail.example") is None
    assert smtp_server.handler.wait_for(1, timeout=0.3) == []


def test_a_known_email_registering_at_a_merchant_joins_it_by_the_mailed_link(
    client, db, make_tenant, make_member, smtp_server
):
    shop, bar = make_tenant(slug="cafe"), make_tenant(slug="bar")
    make_member(bar, "ana@mail.example")  # enrolled at the bar's till: no password yet
    with db(shop) as session:
        update_program(session, {"welcome_points": 30})
        session.commit()
    smtp_server.handler.messages.clear()
    assert register(client, "/t/cafe").status_code == 200
    [mail] = smtp_server.handler.wait_for(1)
    path = path_in(mail)
    assert path.startswith("/t/cafe/app/password/reset/")
    with db(shop) as session:
        assert session.scalars(select(Membership)).all() == []  # not before the link
    done = post_form(client, path, {"password": PASSWORD, "confirm": PASSWORD})
    assert done.status_code == 302 and done.location.endswith("/t/cafe/app/")
    with db(shop) as session:
        assert session.scalars(select(Membership.balance)).all() == [30]
    # A plain forgotten password on a merchant's pages joins nobody.
    post_form(client, "/t/bar/app/password/forgot", {"email": "ana@mail.example"})
    other = make_tenant(slug="otro")
    post_form(client, "/t/otro/app/password/forgot", {"email": "ana@mail.example"})
    reset = path_in(smtp_server.handler.wait_for(3)[-1])
    assert reset.startswith("/t/otro/app/password/reset/")
    post_form(client, reset, {"password": "otra-clave-larga-8", "confirm": "otra-clave-larga-8"})
    with db(other) as session:
        assert session.scalars(select(Membership)).all() == []
