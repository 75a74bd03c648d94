"""Google and Facebook sign-in: the app's real Authlib client against local providers
(tests/core/customer_app/providers.py), on the shared app, a merchant's pages and a
brand's own domain."""

from __future__ import annotations

import re
import socket
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from core.customer_app import social
from core.customer_app.identities import CustomerIdentity
from core.customer_app.sessions import COOKIE
from core.host.db import platform_session, utcnow
from core.loyalty import ledger
from core.loyalty.members import Customer, Membership
from core.loyalty.program import update_program
from core.testing.weblogin import flashes, sign_in_customer, token
from core.web.passwords import hash_password
from tests.core.customer_app import providers
from tests.core.customer_app.providers import FakeFacebook, come_back, google_consent, start

pytestmark = [
    pytest.mark.postgres,
    # The local provider (oidc-provider-mock) uses Authlib's server APIs that Authlib deprecates.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:authlib"),
]


@pytest.fixture(scope="module")
def google():
    with providers.google_provider() as url:
        yield url


@pytest.fixture
def facebook():
    with FakeFacebook() as server:
        yield server


@pytest.fixture
def app(make_app, google, facebook):
    application = make_app(**providers.config(google, facebook))
    with application.app_context():
        yield application


def counts(platform) -> tuple[int, int, int]:
    with platform_session(platform.sessions) as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model))
            for model in (Customer, CustomerIdentity, Membership)
        )


def account(platform, email: str) -> Customer | None:
    with platform_session(platform.sessions) as session:
        return session.scalar(select(Customer).where(Customer.email == email))


def identities(platform) -> list[tuple[int, str, str, str | None]]:
    with platform_session(platform.sessions) as session:
        rows = session.scalars(select(CustomerIdentity).order_by(CustomerIdentity.id))
        return [(r.customer_id, r.provider, r.subject, r.email) for r in rows]


def google_sign_in(client, google, sub, url="/app/social/google/sign-in", base="http://localhost"):
    return come_back(client, google_consent(start(client, url, base), sub))


def test_buttons_show_only_for_configured_providers(make_app, google):
    bare = make_app().test_client().get("/app/login").get_data(as_text=True)
    assert "social-google" not in bare and "social-facebook" not in bare
    only_google = make_app(**providers.config(google)).test_client()
    page = only_google.get("/app/login?next=/app/").get_data(as_text=True)
    assert 'href="/app/social/google/sign-in?next=/app/"' in page
    assert "Continuar con Google" in page and "social-facebook" not in page
    assert only_google.get("/app/social/facebook/sign-in").status_code == 404


def test_the_sign_in_page_of_a_merchant_starts_on_the_merchants_pages(client, make_tenant):
    make_tenant(slug="cafe")
    page = client.get("/t/cafe/app/login").get_data(as_text=True)
    assert 'href="/t/cafe/app/social/google/sign-in"' in page
    assert 'href="/t/cafe/app/social/facebook/sign-in"' in page


def test_a_new_person_signs_up_with_google(client, platform, google):
    providers.google_person(
        google,
        "g-ana",
        email="Ana@Mail.example",
        email_verified=True,
        given_name="Ana",
        family_name="Pérez",
    )
    authorize = start(client, "/app/social/google/sign-in")
    query = parse_qs(urlsplit(authorize).query)
    # Authlib's state, nonce and PKCE, and the shared app's own callback.
    assert query["redirect_uri"] == ["http://localhost/app/social/google/callback"]
    assert query["state"] and query["nonce"] and query["code_challenge_method"] == ["S256"]
    answer = come_back(client, google_consent(authorize, "g-ana"))
    assert answer.status_code == 302 and answer.headers["Location"] == "/app/"
    assert client.get_cookie(COOKIE) is not None
    assert client.get("/app/").status_code == 200
    ana = account(platform, "ana@mail.example")
    assert ana.email_confirmed_at is not None and ana.password_hash is None
    assert (ana.first_name, ana.last_name) == ("Ana", "Pérez")
    assert identities(platform) == [(ana.id, "google", "g-ana", "ana@mail.example")]
    assert counts(platform) == (1, 1, 0)  # the shared app makes no membership


def test_signing_in_again_opens_the_same_account_and_goes_where_asked(client, platform, google):
    providers.google_person(google, "g-eva", email="eva@mail.example", email_verified=True)
    google_sign_in(client, google, "g-eva")
    client.post("/app/logout", data={"csrf_token": token(client, "/app/")})
    answer = google_sign_in(client, google, "g-eva", "/app/social/google/sign-in?next=/app/x")
    assert answer.headers["Location"] == "/app/x"
    evil = google_sign_in(client, google, "g-eva", "/app/social/google/sign-in?next=//evil.example")
    assert evil.headers["Location"] == "/app/"
    # Browsers read "/\\host" as "//host": another site, refused too.
    evil = google_sign_in(
        client, google, "g-eva", "/app/social/google/sign-in?next=/%5Cevil.example"
    )
    assert evil.headers["Location"] == "/app/"
    assert counts(platform) == (1, 1, 0)


def test_a_verified_email_signs_into_the_existing_account(
    client, platform, google, make_tenant, make_member
):
    member = make_member(make_tenant(slug="cafe"), "luz@mail.example")
    providers.google_person(google, "g-luz", email="luz@mail.example", email_verified=True)
    answer = google_sign_in(client, google, "g-luz")
    assert answer.headers["Location"] == "/app/"
    assert "/t/cafe/app/" in client.get("/app/").get_data(as_text=True)
    assert identities(platform) == [(member.customer_id, "google", "g-luz", "luz@mail.example")]
    assert account(platform, "luz@mail.example").email_confirmed_at is not None
    assert counts(platform) == (1, 1, 1)


@pytest.mark.parametrize("via", ["google", "facebook"])
def test_an_unverified_email_never_takes_over_an_account(
    via, client, platform, google, facebook, make_tenant, make_member
):
    make_member(make_tenant(slug="cafe"), "sol@mail.example")
    before = counts(platform)
    if via == "google":
        providers.google_person(google, "g-sol", email="sol@mail.example", email_verified=False)
        answer = google_sign_in(client, google, "g-sol")
    else:
        facebook.person = {"id": "fb-sol", "name": "Sol", "email": "sol@mail.example"}
        answer = come_back(client, facebook.consent(start(client, "/app/social/facebook/sign-in")))
    assert answer.status_code == 302 and answer.headers["Location"] == "/app/login"
    page = client.get("/app/login").get_data(as_text=True)
    assert flashes(page) == [
        (
            "error",
            "Ya hay una cuenta con este e-mail. Ingresa con tu contraseña y luego vincula "
            f"{via.title()} en “Formas de ingresar”.",
        )
    ]
    assert client.get_cookie(COOKIE) is None and counts(platform) == before


def test_a_new_person_signs_up_with_facebook_and_confirms_by_e_mail(
    client, platform, facebook, smtp_server
):
    facebook.person = {"id": "fb-1", "name": "Rosa María Gil", "email": "rosa@mail.example"}
    authorize = start(client, "/app/social/facebook/sign-in")
    query = parse_qs(urlsplit(authorize).query)
    assert query["redirect_uri"] == ["http://localhost/app/social/facebook/callback"]
    assert query["scope"] == ["email"]
    answer = come_back(client, facebook.consent(authorize))
    # The Graph does not say the e-mail was verified: the account awaits confirmation,
    # and nobody is signed in until the link mailed to that address is opened.
    assert answer.status_code == 200 and "Revisa tu correo" in answer.get_data(as_text=True)
    assert client.get_cookie(COOKIE) is None
    rosa = account(platform, "rosa@mail.example")
    assert rosa.email_confirmed_at is None
    assert (rosa.first_name, rosa.last_name) == ("Rosa", "María Gil")
    assert identities(platform) == [(rosa.id, "facebook", "fb-1", "rosa@mail.example")]
    (mail,) = smtp_server.handler.wait_for(1)
    assert mail["To"] == "rosa@mail.example"
    text = next(part for part in mail.walk() if part.get_content_type() == "text/plain")
    body = text.get_payload(decode=True).decode()
    link = re.search(r"http://localhost(/app/confirm/[\w.\-]+)", body).group(1)
    assert client.get(link).status_code == 302
    assert account(platform, "rosa@mail.example").email_confirmed_at is not None
    assert client.get("/app/").status_code == 200  # signed in by the link
    # Signing in with Facebook again now opens the confirmed account.
    come_back(client, facebook.consent(start(client, "/app/social/facebook/sign-in")))
    assert client.get_cookie(COOKIE) is not None


def test_facebook_without_an_email_makes_no_account(client, platform, facebook):
    facebook.person = {"id": "fb-2", "name": "Sin Correo"}
    come_back(client, facebook.consent(start(client, "/app/social/facebook/sign-in")))
    page = client.get("/app/login").get_data(as_text=True)
    assert "Facebook no compartió tu e-mail" in page
    assert counts(platform) == (0, 0, 0)


@pytest.mark.parametrize("via", ["google", "facebook"])
def test_denied_consent_says_so_and_creates_nothing(via, client, platform, google, facebook):
    if via == "google":
        answer = google_sign_in(client, google, None)
    else:
        facebook.person = None
        answer = come_back(client, facebook.consent(start(client, "/app/social/facebook/sign-in")))
    assert answer.headers["Location"] == "/app/login"
    page = client.get("/app/login").get_data(as_text=True)
    assert flashes(page) == [("message", f"Cancelaste el ingreso con {via.title()}.")]
    assert counts(platform) == (0, 0, 0) and client.get_cookie(COOKIE) is None


def test_a_forged_or_replayed_callback_is_refused(client, platform, google):
    providers.google_person(google, "g-tom", email="tom@mail.example", email_verified=True)
    authorize = start(client, "/app/social/google/sign-in")
    back = google_consent(authorize, "g-tom")
    # Another state than the one this browser was given: refused, nothing created.
    forged = back.replace("state=", "state=x")
    assert come_back(client, forged).headers["Location"] == "/app/login"
    message = "Este enlace de ingreso venció o ya se usó: inténtalo de nuevo."
    assert flashes(client.get("/app/login").get_data(as_text=True)) == [("error", message)]
    assert counts(platform) == (0, 0, 0)
    # A callback from another browser (no state of ours at all) is refused too.
    stranger = providers.google_consent(start(client, "/app/social/google/sign-in"), "g-tom")
    other = client.application.test_client()
    assert come_back(other, stranger).headers["Location"] == "/app/login"
    assert counts(platform) == (0, 0, 0)


def test_english_messages(client, google):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    answer = google_sign_in(client, google, None)
    page = client.get("/app/login").get_data(as_text=True)
    assert answer.status_code == 302 and "You cancelled signing in with Google." in page


def test_signing_up_on_a_merchants_pages_makes_a_member_with_welcome_points(
    client, platform, google, make_tenant, db
):
    cafe = make_tenant(slug="cafe")
    with db(cafe) as session:
        update_program(session, {"welcome_points": 50})
        session.commit()
    providers.google_person(google, "g-ines", email="ines@mail.example", email_verified=True)
    authorize = start(client, "/t/cafe/app/social/google/sign-in")
    query = parse_qs(urlsplit(authorize).query)
    assert query["redirect_uri"] == ["http://localhost/t/cafe/app/social/google/callback"]
    answer = come_back(client, google_consent(authorize, "g-ines"))
    assert answer.headers["Location"] == "/t/cafe/app/"
    with db(cafe) as session:
        member = session.scalars(select(Membership)).one()
        assert member.customer.email == "ines@mail.example" and member.joined_via == "app"
        assert [(e.kind, e.points) for e in ledger.history(session, member)] == [("welcome", 50)]
    assert member.code in client.get("/t/cafe/app/").get_data(as_text=True)


def test_signing_in_with_a_known_identity_on_a_merchants_pages_enrols_no_one(
    client, platform, google, make_tenant
):
    make_tenant(slug="cafe")
    providers.google_person(google, "g-leo", email="leo@mail.example", email_verified=True)
    google_sign_in(client, google, "g-leo")
    google_sign_in(client, google, "g-leo", "/t/cafe/app/social/google/sign-in")
    assert counts(platform) == (1, 1, 0)


def test_a_brands_domain_uses_its_own_callback_and_never_says_premia(
    client, platform, google, make_tenant
):
    make_tenant("marca", name="Marca Propia", domain="puntos.marca.example", plan="white-label")
    providers.google_person(google, "g-ada", email="ada@mail.example", email_verified=True)
    base = "https://puntos.marca.example"
    login = client.get("/app/login", base_url=base).get_data(as_text=True)
    assert "Continuar con Google" in login and "Premia" not in login
    authorize = start(client, "/app/social/google/sign-in", base)
    query = parse_qs(urlsplit(authorize).query)
    assert query["redirect_uri"] == [f"{base}/app/social/google/callback"]
    answer = come_back(client, google_consent(authorize, "g-ada"))
    assert answer.status_code == 302
    card = client.get(answer.headers["Location"], base_url=base)
    assert card.status_code == 200 and "Premia" not in card.get_data(as_text=True)
    methods = client.get("/app/sign-in-methods", base_url=base).get_data(as_text=True)
    assert "ada@mail.example" in methods and "Premia" not in methods
    assert counts(platform) == (1, 1, 1)


def test_link_then_unlink_a_provider(
    client, app, platform, google, facebook, make_tenant, make_member
):
    member = make_member(make_tenant(slug="cafe"), "mia@mail.example")
    with platform_session(platform.sessions) as session:
        mia = session.get(Customer, member.customer_id)
        mia.password_hash = hash_password("x-long-pass-1")
        mia.email_confirmed_at = utcnow()  # only a confirmed account signs in
        session.commit()
    sign_in_customer(client, app, member)
    page = client.get("/t/cafe/app/sign-in-methods").get_data(as_text=True)
    assert 'href="/t/cafe/app/social/google/link"' in page
    # Linking needs no e-mail match: the person is signed in and proves the account.
    providers.google_person(google, "g-mia", email="otra@mail.example", email_verified=False)
    authorize = start(client, "/t/cafe/app/social/google/link")
    answer = come_back(client, google_consent(authorize, "g-mia"))
    assert answer.headers["Location"] == "/t/cafe/app/sign-in-methods"
    page = client.get("/t/cafe/app/sign-in-methods").get_data(as_text=True)
    assert ("success", "Google quedó vinculado a tu cuenta.") in flashes(page)
    assert identities(platform) == [(member.customer_id, "google", "g-mia", "otra@mail.example")]
    # The linked Google account now signs into this account, from another browser too.
    other = app.test_client()
    assert google_sign_in(other, google, "g-mia").headers["Location"] == "/app/"
    unlinked = client.post(
        "/t/cafe/app/sign-in-methods/google/unlink",
        data={"csrf_token": token(client, "/t/cafe/app/sign-in-methods")},
    )
    assert unlinked.headers["Location"] == "/t/cafe/app/sign-in-methods"
    assert identities(platform) == []
    # Unlinking what is not linked, or without the form's token, changes nothing.
    csrf = token(client, "/t/cafe/app/sign-in-methods")
    assert (
        client.post(
            "/t/cafe/app/sign-in-methods/google/unlink", data={"csrf_token": csrf}
        ).status_code
        == 404
    )
    assert (
        client.post("/t/cafe/app/sign-in-methods/x/unlink", data={"csrf_token": csrf}).status_code
        == 404
    )


def test_the_last_way_to_sign_in_cannot_be_unlinked(client, platform, google, facebook):
    providers.google_person(google, "g-noa", email="noa@mail.example", email_verified=True)
    google_sign_in(client, google, "g-noa")
    csrf = token(client, "/app/sign-in-methods")
    refused = client.post("/app/sign-in-methods/google/unlink", data={"csrf_token": csrf})
    assert refused.headers["Location"] == "/app/sign-in-methods"
    page = client.get("/app/sign-in-methods").get_data(as_text=True)
    assert flashes(page) == [
        (
            "error",
            "Es tu única forma de ingresar: crea una contraseña o vincula otra cuenta antes "
            "de desvincularla.",
        )
    ]
    assert len(identities(platform)) == 1
    # With Facebook linked too, Google may go; then Facebook is the last one.
    facebook.person = {"id": "fb-noa", "name": "Noa", "email": "noa@mail.example"}
    come_back(client, facebook.consent(start(client, "/app/social/facebook/link")))
    assert [row[1] for row in identities(platform)] == ["google", "facebook"]
    client.post("/app/sign-in-methods/google/unlink", data={"csrf_token": csrf})
    assert [row[1] for row in identities(platform)] == ["facebook"]
    client.post("/app/sign-in-methods/facebook/unlink", data={"csrf_token": csrf})
    assert [row[1] for row in identities(platform)] == ["facebook"]


def test_a_provider_account_linked_to_someone_else_is_refused(
    client, app, platform, google, make_tenant, make_member
):
    providers.google_person(google, "g-ray", email="ray@mail.example", email_verified=True)
    google_sign_in(app.test_client(), google, "g-ray")
    other = make_member(make_tenant(slug="cafe"), "kim@mail.example")
    sign_in_customer(client, app, other)
    come_back(client, google_consent(start(client, "/app/social/google/link"), "g-ray"))
    page = client.get("/app/sign-in-methods").get_data(as_text=True)
    assert ("error", "Esta cuenta de Google ya está vinculada a otra cuenta.") in flashes(page)
    assert [(row[1], row[2]) for row in identities(platform)] == [("google", "g-ray")]
    assert identities(platform)[0][0] != other.customer_id


def test_another_persons_identity_is_out_of_reach(
    client, app, platform, google, make_tenant, make_member
):
    providers.google_person(google, "g-val", email="val@mail.example", email_verified=True)
    google_sign_in(app.test_client(), google, "g-val")
    intruder = make_member(make_tenant(slug="cafe"), "ivo@mail.example")
    sign_in_customer(client, app, intruder)
    page = client.get("/app/sign-in-methods").get_data(as_text=True)
    assert "val@mail.example" not in page
    csrf = token(client, "/app/sign-in-methods")
    assert (
        client.post("/app/sign-in-methods/google/unlink", data={"csrf_token": csrf}).status_code
        == 404
    )
    assert len(identities(platform)) == 1


def test_the_sign_in_methods_page_asks_a_visitor_to_sign_in(client):
    answer = client.get("/app/sign-in-methods")
    assert answer.status_code == 302 and "/app/login" in answer.headers["Location"]
    assert client.get("/app/social/google/link").status_code == 302


def test_an_unreachable_provider_says_so_and_creates_nothing(make_app, platform, facebook):
    closed = providers.config("http://127.0.0.1:9")  # nothing listens on the discard port
    client = make_app(**closed, **providers.config(None, facebook)).test_client()
    answer = client.get("/app/social/google/sign-in")
    assert answer.status_code == 302 and answer.headers["Location"] == "/app/login"
    page = client.get("/app/login").get_data(as_text=True)
    assert ("error", "No es posible comunicarse con Google ahora: inténtalo más tarde.") in flashes(
        page
    )
    # Facebook's token endpoint refusing the code (a wrong secret): nothing created either.
    facebook.person = {"id": "fb-3", "name": "Eva", "email": "eva@mail.example"}
    wrong = make_app(**{**providers.config(None, facebook), "PREMIA_FACEBOOK_CLIENT_SECRET": "x"})
    other = wrong.test_client()
    come_back(other, facebook.consent(start(other, "/app/social/facebook/sign-in")))
    page = other.get("/app/login").get_data(as_text=True)
    assert ("error", "Facebook no pudo confirmar quién eres.") in flashes(page)
    assert counts(platform) == (0, 0, 0)


def test_a_provider_that_never_answers_is_given_up(make_app, monkeypatch):
    monkeypatch.setattr(social, "TIMEOUT", 0.5)
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        client = make_app(**providers.config(f"http://127.0.0.1:{silent.getsockname()[1]}"))
        began = time.monotonic()
        answer = client.test_client().get("/app/social/google/sign-in")
        assert answer.headers["Location"] == "/app/login"
        assert time.monotonic() - began < 5


def test_an_identity_of_a_provider_no_longer_configured_can_still_be_unlinked(
    make_app, platform, google, make_tenant, make_member
):
    app = make_app(**providers.config(google))  # Facebook no longer configured
    member = make_member(make_tenant(slug="cafe"), "zoe@mail.example")
    with platform_session(platform.sessions) as session:
        customer = session.get(Customer, member.customer_id)
        customer.password_hash = hash_password("x-long-pass-1")
        session.add(
            CustomerIdentity(
                customer_id=customer.id, provider="facebook", subject="fb-z", email=None
            )
        )
        session.commit()
    client = app.test_client()
    sign_in_customer(client, app, member)
    page = client.get("/app/sign-in-methods").get_data(as_text=True)
    assert 'id="method-facebook"' in page and "social/facebook/link" not in page
    csrf = token(client, "/app/sign-in-methods")
    answer = client.post("/app/sign-in-methods/facebook/unlink", data={"csrf_token": csrf})
    assert answer.status_code == 302 and identities(platform) == []


def test_a_verified_google_sign_in_voids_the_password_someone_set_unconfirmed(
    client, app, platform, google
):
    """Someone registers Rita's address with their own password (never confirmed); when
    Rita signs in with Google, which proves the address, that password opens nothing."""
    with platform_session(platform.sessions) as session:
        session.add(Customer(email="rita@mail.example", password_hash=hash_password("intruder-99")))
        session.commit()
    providers.google_person(google, "g-rita", email="rita@mail.example", email_verified=True)
    assert google_sign_in(client, google, "g-rita").headers["Location"] == "/app/"
    rita = account(platform, "rita@mail.example")
    assert rita.password_hash is None and rita.email_confirmed_at is not None
    intruder = app.test_client()
    answer = intruder.post(
        "/app/login",
        data={
            "email": "rita@mail.example",
            "password": "intruder-99",
            "csrf_token": token(intruder, "/app/login"),
        },
    )
    assert answer.status_code == 401 and intruder.get_cookie(COOKIE) is None
