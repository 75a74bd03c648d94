"""Sign-up with e-mail confirmation, forgotten passwords and the profile, as a merchant
goes through them in the browser, with the e-mails caught by a real SMTP server."""

from __future__ import annotations

import html
import re
from email.header import decode_header, make_header

import pytest
from sqlalchemy import select

from core.host import outbox
from core.host.db import platform_session
from core.loyalty.staff import Role, StaffUser
from core.testing.factories import PASSWORD
from core.testing.weblogin import csrf_token, flashes, post_login
from tenants.models import Tenant

LINK = re.compile(r"https?://\S+/(?:signup/confirm|password/reset)/[\w.\-]+")

SIGNUP = {
    "name": "Café Núñez",
    "slug": "cafe-nunez",
    "business_type": "Cafetería",
    "owner_name": "Lucía Núñez",
    "email": "lucia@cafe.example",
    "password": "un-cafe-largo-9",
    "currency": "COP",
    "country": "CO",
    "timezone": "America/Bogota",
    "language": "es",
}


@pytest.fixture
def shop(make_tenant):
    return make_tenant()


def _text(message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")


def _signup(client, **changes):
    page = client.get("/signup/").get_data(as_text=True)
    return client.post("/signup/", data={**SIGNUP, **changes, "csrf_token": csrf_token(page)})


def _tenants(platform) -> dict[str, Tenant]:
    with platform_session(platform.sessions) as session:
        return {t.slug: t for t in session.scalars(select(Tenant))}


def _owner_email(shop, db):
    with db(shop) as session:
        return session.scalars(select(StaffUser.email).where(StaffUser.role == Role.OWNER)).one()


def test_signup_creates_nothing_until_the_email_is_confirmed(client, platform, smtp_server):
    sent = _signup(client)
    assert sent.status_code == 200 and "lucia@cafe.example" in sent.get_data(as_text=True)
    assert "cafe-nunez" not in _tenants(platform)
    mail = smtp_server.handler.wait_for(1)[0]
    assert mail["To"] == "lucia@cafe.example"
    assert str(make_header(decode_header(mail["Subject"]))) == (
        "Confirma tu correo para crear tu programa de fidelización"
    )
    assert SIGNUP["password"] not in mail.as_string()
    link = LINK.search(_text(mail)).group(0)
    confirmed = client.get(link.split("localhost", 1)[-1])
    assert confirmed.status_code == 302 and "/t/cafe-nunez/login" in confirmed.location
    tenant = _tenants(platform)["cafe-nunez"]
    assert (tenant.name, tenant.plan.code, tenant.currency, tenant.business_type) == (
        "Café Núñez",
        "free",
        "COP",
        "Cafetería",
    )
    logged = post_login(client, "cafe-nunez", "lucia@cafe.example", SIGNUP["password"])
    assert logged.status_code == 302 and logged.location.endswith("/t/cafe-nunez/panel/")
    again = client.get(link.split("localhost", 1)[-1])
    assert again.status_code == 409 and "ya está confirmada" in again.get_data(as_text=True)


def test_the_confirmed_programs_first_message_is_in_its_language(client, platform, smtp_server):
    """Signed up from an English browser for a Spanish program: the login page that
    greets the owner is Spanish, and so is its message."""
    english = {"Accept-Language": "en"}
    page = client.get("/signup/", headers=english).get_data(as_text=True)
    client.post(
        "/signup/",
        headers=english,
        data={**SIGNUP, "language": "es", "csrf_token": csrf_token(page)},
    )
    link = LINK.search(_text(smtp_server.handler.wait_for(1)[0])).group(0)
    confirmed = client.get(link.split("localhost", 1)[-1], headers=english)
    login = client.get(confirmed.location, headers=english).get_data(as_text=True)
    assert ("success", "Tu cuenta está lista. Inicia sesión para configurar tu programa.") in (
        flashes(login)
    )


def test_signup_refuses_bad_fields_and_sends_nothing(client, platform, make_tenant, smtp_server):
    make_tenant(slug="tomado")
    for changes, expected in [
        ({"slug": "tomado"}, "Esta dirección ya está en uso."),
        ({"slug": "Con Espacios"}, "Usa letras minúsculas, números y guiones."),
        ({"password": "corta"}, "La contraseña debe tener al menos"),
        ({"currency": "XXX"}, "Opción inválida."),
        ({"timezone": "Luna/Base"}, "Zona horaria desconocida."),
        ({"email": "no-es-correo"}, "Ingresa un correo electrónico válido."),
    ]:
        answer = _signup(client, **changes)
        assert answer.status_code == 422, changes
        page = answer.get_data(as_text=True)
        assert 'class="error"' in page, changes
        assert expected in page, (changes, page[:2000])
    assert smtp_server.handler.messages == []
    assert set(_tenants(platform)) == {"tomado"}


def test_a_forged_or_expired_link_creates_nothing(client, platform):
    answer = client.get("/signup/confirm/not-a-real-token")
    assert answer.status_code == 404
    assert "cafe-nunez" not in _tenants(platform)


def test_forgotten_password_by_email(client, shop, db, smtp_server):
    email = _owner_email(shop, db)
    page = client.get(f"/t/{shop.slug}/password/forgot").get_data(as_text=True)
    asked = client.post(
        f"/t/{shop.slug}/password/forgot",
        data={"email": email, "csrf_token": csrf_token(page)},
        follow_redirects=True,
    )
    assert any("enlace" in text for _kind, text in flashes(asked.get_data(as_text=True)))
    link = LINK.search(_text(smtp_server.handler.wait_for(1)[0])).group(0)
    path = link.split("localhost", 1)[-1]
    form = client.get(path).get_data(as_text=True)
    mismatch = client.post(
        path,
        data={
            "password": "nueva-clave-123",
            "confirm": "otra-cosa",
            "csrf_token": csrf_token(form),
        },
    )
    assert mismatch.status_code == 422
    done = client.post(
        path,
        data={
            "password": "nueva-clave-123",
            "confirm": "nueva-clave-123",
            "csrf_token": csrf_token(form),
        },
    )
    assert done.status_code == 302
    assert post_login(client, shop.slug, email, PASSWORD).status_code == 401
    assert post_login(client, shop.slug, email, "nueva-clave-123").status_code == 302
    client.post(f"/t/{shop.slug}/logout")
    reused = client.get(path)  # a link works once
    assert reused.status_code == 302 and reused.location.endswith("/password/forgot")
    assert "caducado" in client.get(reused.location).get_data(as_text=True)


def test_unknown_addresses_get_the_same_answer_and_no_mail(client, shop, smtp_server):
    page = client.get(f"/t/{shop.slug}/password/forgot").get_data(as_text=True)
    asked = client.post(
        f"/t/{shop.slug}/password/forgot",
        data={"email": "nadie@example.com", "csrf_token": csrf_token(page)},
    )
    assert asked.status_code == 302
    assert smtp_server.handler.wait_for(1, timeout=0.5) == []


def test_a_reset_link_of_one_merchant_does_nothing_at_another(
    client, shop, make_tenant, db, smtp_server
):
    other = make_tenant()
    page = client.get(f"/t/{shop.slug}/password/forgot").get_data(as_text=True)
    client.post(
        f"/t/{shop.slug}/password/forgot",
        data={"email": _owner_email(shop, db), "csrf_token": csrf_token(page)},
    )
    link = LINK.search(_text(smtp_server.handler.wait_for(1)[0])).group(0)
    token = link.rsplit("/", 1)[-1]
    elsewhere = client.get(f"/t/{other.slug}/password/reset/{token}")
    assert elsewhere.status_code == 302 and "/password/forgot" in elsewhere.location


def test_profile_changes_name_and_password(client, shop, db):
    email = _owner_email(shop, db)
    post_login(client, shop.slug, email, PASSWORD)
    page = client.get(f"/t/{shop.slug}/panel/profile/").get_data(as_text=True)
    wrong = client.post(
        f"/t/{shop.slug}/panel/profile/",
        data={
            "name": "Dueña",
            "email": email,
            "current_password": "no-es-esta",
            "new_password": "otra-clave-larga",
            "confirm": "otra-clave-larga",
            "csrf_token": csrf_token(page),
        },
    )
    assert wrong.status_code == 422
    assert "no es tu contraseña actual" in wrong.get_data(as_text=True)
    saved = client.post(
        f"/t/{shop.slug}/panel/profile/",
        data={
            "name": "Dueña",
            "email": email,
            "current_password": PASSWORD,
            "new_password": "otra-clave-larga",
            "confirm": "otra-clave-larga",
            "csrf_token": csrf_token(page),
        },
    )
    assert saved.status_code == 302
    with db(shop) as session:
        owner = session.scalars(select(StaffUser).where(StaffUser.email == email)).one()
    assert owner.name == "Dueña"
    client.post(f"/t/{shop.slug}/logout")
    assert post_login(client, shop.slug, email, "otra-clave-larga").status_code == 302


# --- reset requests: limited, and alike whether or not the address is someone's ---------


def _ask_reset(client, slug: str, email: str, times: int) -> list[tuple[int, list]]:
    page = client.get(f"/t/{slug}/password/forgot").get_data(as_text=True)
    answers = []
    for _ in range(times):
        answer = client.post(
            f"/t/{slug}/password/forgot", data={"email": email, "csrf_token": csrf_token(page)}
        )
        shown = client.get(answer.location) if answer.status_code == 302 else answer
        answers.append((answer.status_code, flashes(shown.get_data(as_text=True))))
    return answers


def test_thirty_reset_requests_for_one_address_mail_at_most_the_limit(
    make_app, shop, db, smtp_server
):
    client = make_app(PREMIA_PASSWORD_RESET_LIMIT="3 per hour").test_client()
    email = _owner_email(shop, db)
    answers = _ask_reset(client, shop.slug, email, 30)
    assert [status for status, _ in answers] == [302] * 3 + [429] * 27
    assert len(smtp_server.handler.wait_for(4, timeout=1)) == 3
    assert answers[-1][1] == [
        ("error", "Demasiadas solicitudes para este correo. Espera un rato y vuelve a intentarlo.")
    ]
    # An unknown address is counted and answered alike: the limit tells nothing either.
    assert _ask_reset(client, shop.slug, "nadie@example.com", 30) == [
        (status, flashed) for status, flashed in answers
    ]
    assert len(smtp_server.handler.wait_for(4, timeout=0.5)) == 3


def test_a_reset_request_queues_the_same_job_whether_or_not_the_address_exists(
    make_app, shop, db, redis_url
):
    from redis import Redis
    from rq import Queue

    application = make_app(PREMIA_REDIS_URL=redis_url)
    client = application.test_client()
    mail = Queue("mail", connection=Redis.from_url(redis_url))
    known = _ask_reset(client, shop.slug, _owner_email(shop, db), 1)
    unknown = _ask_reset(client, shop.slug, "nadie@example.com", 1)
    assert known == unknown
    assert mail.get_jobs() == []  # with rq, kept in the requests' outbox rows
    assert outbox.relay(application) == 2  # as a `premia worker` does
    jobs = mail.get_jobs()
    assert [job.func_name for job in jobs] == ["core.web.accounts.send_reset_mail"] * 2
    assert [job.args[1] for job in jobs] == [_owner_email(shop, db), "nadie@example.com"]


def _options(page: str, name: str) -> list[tuple[str, bool, str]]:
    """(value, selected, label) of the select `name` on a page."""
    select_ = re.search(rf'<select[^>]* name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select_, f"no <select name={name!r}> on the page"
    return [
        (
            re.search(r'value="([^"]*)"', attributes).group(1),
            " selected" in attributes,
            html.unescape(label),
        )
        for attributes, label in re.findall(r"<option([^>]*)>(.*?)</option>", select_.group(1))
    ]


@pytest.mark.parametrize(
    ("language", "colombia", "brazil"),
    [
        ("es", "Colombia", "Brasil"),
        ("en", "Colombia", "Brazil"),
        ("pt-BR", "Colômbia", "Brasil"),
    ],
)
def test_signup_picks_country_and_time_zone_from_lists_in_the_visitors_language(
    client, language, colombia, brazil
):
    page = client.get("/signup/", headers={"Accept-Language": language}).get_data(as_text=True)
    countries = _options(page, "country")
    assert ("CO", True, colombia) in countries and ("BR", False, brazil) in countries
    zones = _options(page, "timezone")
    assert ("America/Bogota", True, "America/Bogota") in zones
    assert ("America/Sao_Paulo", False, "America/Sao Paulo") in zones
    assert "ISO" not in page


@pytest.mark.parametrize(
    ("accept", "language"),
    [
        ("es", "es"),
        ("en-US,en;q=0.9", "en"),
        ("pt-BR", "pt_BR"),
        ("de", "es"),
    ],
)
def test_signup_proposes_the_language_the_visitor_reads_it_in(client, accept, language):
    """A program signed up for from the English page is not made Spanish by default."""
    page = client.get("/signup/", headers={"Accept-Language": accept}).get_data(as_text=True)
    assert [v for v, selected, _label in _options(page, "language") if selected] == [language]


def test_signup_lists_are_configuracions(client, make_tenant, db):
    """One list for both screens: what a merchant picks at sign-up, Configuración shows."""
    shop = make_tenant()
    post_login(client, shop.slug, _owner_email(shop, db), PASSWORD)
    settings = client.get(f"/t/{shop.slug}/panel/settings/").get_data(as_text=True)
    signup = client.get("/signup/", headers={"Accept-Language": "es"}).get_data(as_text=True)
    for name in ("country", "timezone"):
        assert [(v, label) for v, _s, label in _options(signup, name)] == [
            (v, label) for v, _s, label in _options(settings, name)
        ]


def test_signup_with_a_country_and_zone_off_the_lists_is_refused(client, platform, smtp_server):
    answer = _signup(client, country="ZZ", timezone="America/Atlantis")
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert "Código de país desconocido." in page and "Zona horaria desconocida." in page
    assert smtp_server.handler.messages == []


# --- the way from the platform's home page to a program's login -----------------


def test_the_home_page_leads_to_a_programs_login(client, make_tenant):
    make_tenant(slug="cafe-central")
    home = client.get("/", headers={"Accept-Language": "es"})
    page = home.get_data(as_text=True)
    assert home.status_code == 200 and 'action="/"' in page and 'name="program"' in page
    assert "cafe-central" not in page.replace("p. ej. cafe-central", "")  # no list of programs
    for typed in (
        "cafe-central",
        " Cafe-Central ",
        "https://premia.example/t/cafe-central/login",
        "localhost/t/cafe-central/",
    ):
        answer = client.post("/", data={"program": typed, "csrf_token": csrf_token(page)})
        assert answer.status_code == 302, typed
        assert answer.location.endswith("/t/cafe-central/login"), typed
    assert client.get("/t/cafe-central/login").status_code == 200


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("cafe-lejano", "No hay ningún programa en esta dirección."),
        ("Con Espacios", "Usa letras minúsculas, números y guiones."),
        ("", "Obligatorio."),
    ],
)
def test_the_home_pages_login_says_what_is_wrong(client, make_tenant, typed, message):
    make_tenant(slug="cafe-central")
    page = client.get("/", headers={"Accept-Language": "es"}).get_data(as_text=True)
    answer = client.post(
        "/",
        data={"program": typed, "csrf_token": csrf_token(page)},
        headers={"Accept-Language": "es"},
    )
    assert answer.status_code == 422
    assert message in answer.get_data(as_text=True)
