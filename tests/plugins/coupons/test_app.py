"""The claim page as people reach it: a visitor is asked to register or sign in (and
says nothing about the code); registering from it with the confirmation opened in
another browser claims the coupon on joining; signing in comes back to the page; a
member claims with a button; refusals in the person's language; look-ups limited
per person and address; another merchant's code answers 404 and changes nothing."""

from __future__ import annotations

import html

from sqlalchemy import func, select

from core.loyalty.ledger import Entry
from core.loyalty.members import Membership
from core.testing.factories import FreshContextClient
from core.testing.weblogin import csrf_token, flashes, sign_in_customer
from plugins.coupons import claims
from plugins.coupons.models import Claim, Code
from tests.core.customer_app.test_account_pages import PASSWORD, path_in, post_form
from tests.plugins.coupons.conftest import person

APP = "/t/cafe/app/coupon"


def browser(app) -> FreshContextClient:
    return FreshContextClient(app)


def text(answer) -> str:
    return html.unescape(answer.get_data(as_text=True))


class Account:
    def __init__(self, customer_id: int) -> None:
        self.id = customer_id


def test_the_qr_url_is_the_claim_page_of_the_merchants_app(app, shop, make_tenant):
    with app.test_request_context():
        assert claims.claim_url(shop, "ABCDE23456").endswith("/t/cafe/app/coupon/ABCDE23456")
        brand = make_tenant(slug="marca", plan="white-label", domain="puntos.marca.example")
        assert (
            claims.claim_url(brand, "ABCDE23456")
            == "https://puntos.marca.example/app/coupon/ABCDE23456"
        )


def test_a_visitor_is_asked_to_register_or_sign_in_and_learns_nothing(app, shop, make_campaign):
    _campaign, codes = make_campaign(shop)
    visitor = browser(app)
    real, made_up = visitor.get(f"{APP}/{codes[0]}"), visitor.get(f"{APP}/ZZZZZ22222")
    assert real.status_code == made_up.status_code == 200
    assert "BIENVENIDA2027" not in text(real) and "100" not in text(real)
    assert "Crea tu cuenta o inicia sesión" in text(real)
    assert f"next=/t/cafe/app/coupon/{codes[0]}" in text(real).replace("%2F", "/")


def test_registering_from_the_coupon_claims_it_when_the_email_is_confirmed(
    app, db, shop, make_campaign, smtp_server
):
    _campaign, codes = make_campaign(shop)
    visitor = browser(app)
    visitor.get(f"{APP}/{codes[0].lower()}")
    sent = post_form(
        visitor,
        "/t/cafe/app/register",
        {"email": "bea@mail.example", "password": PASSWORD, "first_name": "Bea"},
    )
    assert sent.status_code == 200
    [mail] = [m for m in smtp_server.handler.wait_for(1) if m["To"] == "bea@mail.example"]
    elsewhere = browser(app)  # opened on another device: the link carries the coupon
    assert elsewhere.get(path_in(mail)).status_code == 302
    with db(shop) as session:
        bea = session.scalar(select(Membership).where(Membership.first_name == "Bea"))
        assert bea.balance == 50 + 100
        assert session.scalar(select(Code.claimed_by).where(Code.code == codes[0])) == bea.id
    card = text(elsewhere.get("/t/cafe/app/"))
    assert "150" in card


def test_signing_in_comes_back_to_the_claim_and_the_button_claims_once(
    app, db, shop, make_campaign, make_member
):
    _campaign, codes = make_campaign(shop)
    ana = make_member(shop, email="ana@mail.example", first_name="Ana")
    client = browser(app)
    sign_in_customer(client, app, ana)
    page = client.get(f"{APP}/{codes[0]}")
    assert page.status_code == 200
    assert "BIENVENIDA2027" in text(page) and "100 puntos" in text(page)
    answer = client.post(f"{APP}/{codes[0]}", data={"csrf_token": csrf_token(text(page))})
    assert answer.status_code == 302 and answer.location.endswith("/t/cafe/app/")
    card = client.get(answer.location).get_data(as_text=True)
    assert ("success", "Ganaste 100 puntos con el cupón.") in flashes(card)
    again = client.post(f"{APP}/{codes[0]}", data={"csrf_token": csrf_token(text(page))})
    assert again.status_code == 409 and "Ya reclamaste este cupón." in text(again)
    with db(shop) as session:
        assert session.get(Membership, ana.id).balance == 50 + 100  # welcome, then the coupon
        assert session.scalar(select(func.count(Entry.id)).where(Entry.kind == claims.KIND)) == 1


def test_a_person_of_the_shared_app_becomes_a_member_by_claiming(app, db, shop, make_campaign):
    _campaign, codes = make_campaign(shop)
    client = browser(app)
    sign_in_customer(client, app, Account(person(app, "cid@mail.example", "Cid")))
    page = client.get(f"{APP}/{codes[0]}")
    client.post(f"{APP}/{codes[0]}", data={"csrf_token": csrf_token(text(page))})
    with db(shop) as session:
        cid = session.scalar(select(Membership).where(Membership.first_name == "Cid"))
        assert cid is not None and cid.balance == 50 + 100


def test_refusals_say_why_in_the_persons_language(app, db, shop, make_campaign, make_member):
    _campaign, codes = make_campaign(shop, count=1)
    ana = make_member(shop, email="ana@mail.example")
    eva = make_member(shop, email="eva@mail.example")
    with db(shop) as session:
        claims.claim_as_member(
            session, shop, session.get(Membership, eva.id), *claims.find_code(session, codes[0])
        )
        session.commit()
    client = browser(app)
    sign_in_customer(client, app, ana)
    used = client.get(f"{APP}/{codes[0]}")
    assert used.status_code == 409 and "Este cupón ya fue usado." in text(used)
    unknown = client.get(f"{APP}/ZZZZZ22222")
    assert unknown.status_code == 404 and "No conocemos este código de cupón." in text(unknown)


def test_a_portuguese_speaker_reads_the_refusals_in_portuguese(app, db, shop, make_campaign):
    _campaign, codes = make_campaign(shop, count=1)
    client = browser(app)
    sign_in_customer(client, app, Account(person(app, "joao@mail.example", "João", "pt_BR")))
    unknown = client.get(f"{APP}/ZZZZZ22222")
    assert unknown.status_code == 404
    assert "Não conhecemos este código de cupom." in text(unknown)
    page = client.get(f"{APP}/{codes[0]}")
    assert "Receber meus pontos" in text(page)
    client.post(f"{APP}/{codes[0]}", data={"csrf_token": csrf_token(text(page))})
    again = client.get(f"{APP}/{codes[0]}")
    assert again.status_code == 409 and "Você já usou este cupom." in text(again)


def test_look_ups_are_limited_per_person_and_per_address(app, db, shop, make_member):
    app.config.update(
        PREMIA_COUPON_LIMIT="3 per hour", PREMIA_COUPON_LIMIT_PER_ADDRESS="5 per hour"
    )
    try:
        ana = make_member(shop, email="ana@mail.example")
        eva = make_member(shop, email="eva@mail.example")
        client = browser(app)
        sign_in_customer(client, app, ana)
        here = {"REMOTE_ADDR": "10.0.0.7"}
        answers = [
            client.get(f"{APP}/ZZZZZ2222{n}", environ_base=here).status_code for n in range(4)
        ]
        assert answers == [404, 404, 404, 429]
        assert "Demasiados intentos" in text(client.get(f"{APP}/ZZZZZ22229", environ_base=here))
        other = browser(app)
        sign_in_customer(other, app, eva)  # another person, same address: 5 in all from there
        statuses = [
            other.get(f"{APP}/YYYYY2222{n}", environ_base=here).status_code for n in range(2)
        ]
        assert statuses == [429, 429]
        elsewhere = {"REMOTE_ADDR": "10.0.0.8"}
        assert other.get(f"{APP}/YYYYY22229", environ_base=elsewhere).status_code == 404
    finally:
        app.config.update(
            PREMIA_COUPON_LIMIT="1000 per minute", PREMIA_COUPON_LIMIT_PER_ADDRESS="1000 per minute"
        )


def test_typing_a_code_opens_its_page(app, shop, make_campaign, make_member):
    _campaign, codes = make_campaign(shop)
    ana = make_member(shop, email="ana@mail.example")
    client = browser(app)
    sign_in_customer(client, app, ana)
    page = client.get(f"{APP}/")
    assert page.status_code == 200 and "Código del cupón" in text(page)
    typed = codes[0][:5].lower() + " - " + codes[0][5:]
    answer = client.post(f"{APP}/", data={"code": typed, "csrf_token": csrf_token(text(page))})
    assert answer.status_code == 302 and answer.location.endswith(f"/t/cafe/app/coupon/{codes[0]}")
    bad = client.post(f"{APP}/", data={"code": "¿?", "csrf_token": csrf_token(text(page))})
    assert bad.status_code == 422


def test_the_apps_scanner_reads_a_coupons_qr(app, shop, make_campaign, make_member):
    _campaign, codes = make_campaign(shop)
    ana = make_member(shop, email="ana@mail.example")
    client = browser(app)
    sign_in_customer(client, app, ana)
    page = text(client.get(f"{APP}/"))
    # the camera box (static/scanner.js) is wired to the code's form, with the decoder
    assert 'data-form="coupon-form"' in page and 'id="coupon-form"' in page
    assert "scanner.js" in page
    decoder = client.get("/t/cafe/app/qr-reader.js")
    assert decoder.status_code == 200 and "jsQR" in decoder.get_data(as_text=True)
    # what a QR of another site's copy of the link reads, typed into the box: its code
    scanned = f"https://otro.example/t/cafe/app/coupon/{codes[0]}"
    answer = client.post(f"{APP}/", data={"code": scanned, "csrf_token": csrf_token(page)})
    assert answer.status_code == 302 and answer.location.endswith(f"/t/cafe/app/coupon/{codes[0]}")


def test_another_merchants_code_is_unknown_here_and_changes_nothing(
    app, db, shop, other, make_campaign, make_member
):
    _campaign, theirs = make_campaign(other)
    ana = make_member(shop, email="ana@mail.example")
    client = browser(app)
    sign_in_customer(client, app, ana)
    page = client.get(f"{APP}/{theirs[0]}")
    assert page.status_code == 404
    answer = client.post(
        f"{APP}/{theirs[0]}", data={"csrf_token": csrf_token(text(client.get(f"{APP}/")))}
    )
    assert answer.status_code == 404
    with db(other) as session:
        assert session.scalar(select(func.count(Claim.id))) == 0
    with db(shop) as session:
        assert session.get(Membership, ana.id).balance == 50  # her welcome points only
