"""The customer app's referral pages as people go through them: the member's invite
page (link, WhatsApp, QR, friends), the link's landing page, registering from it with
the confirmation opened in another browser, joining from a card, the e-mail to the
inviter; 404 on another merchant's pages and where the plugin is off."""

from __future__ import annotations

import html
import re
from urllib.parse import unquote

import pytest
from sqlalchemy import select

from core.host.actors import Actor
from core.loyalty.members import Membership
from core.loyalty.purchases import give_points
from core.testing.factories import FreshContextClient
from core.testing.weblogin import csrf_token, sign_in_customer
from plugins.referrals.models import Referral
from tests.core.customer_app.test_account_pages import (
    PASSWORD,
    path_in,
    post_form,
    subject,
    text_of,
)
from tests.plugins.referrals.test_referrals import configure, person

INVITE = re.compile(r'value="https?://[^/"]+(/t/cafe/app/referrals/i/([A-Z0-9]{10}))"')


def browser(app) -> FreshContextClient:
    """Another browser: a client of its own, each request in a fresh app context."""
    return FreshContextClient(app)


@pytest.fixture
def shop(shop, db):
    configure(db, shop, referrer_points=100, friend_points=20)
    return shop


def invite_path(client, app, member) -> str:
    sign_in_customer(client, app, member)
    page = client.get("/t/cafe/app/referrals/")
    assert page.status_code == 200
    return INVITE.search(page.get_data(as_text=True)).group(1)


def test_the_invite_page_shows_the_link_whatsapp_and_a_qr(client, app, shop, ana):
    sign_in_customer(client, app, ana)
    page = client.get("/t/cafe/app/referrals/").get_data(as_text=True)
    path, code = INVITE.search(page).groups()
    assert client.get("/t/cafe/app/referrals/").get_data(as_text=True).count(code) >= 2  # kept
    whatsapp = unquote(html.unescape(re.search(r'href="(https://wa.me/\?text=[^"]+)"', page)[1]))
    assert "Café Central" in whatsapp and path in whatsapp  # in Spanish, Ana's language
    assert "<svg" in page and "100" in page
    assert "No friend has joined" not in page and "Ningún amigo" in page
    # The menu and the card lead there.
    card = client.get("/t/cafe/app/").get_data(as_text=True)
    assert "/t/cafe/app/referrals/" in card and "100 puntos por amigo" in card


def test_a_friend_registers_from_the_link_confirms_elsewhere_and_the_inviter_is_paid(
    app, db, shop, ana, smtp_server
):
    path = invite_path(browser(app), app, ana)
    friend = browser(app)
    landing = friend.get(path).get_data(as_text=True)
    assert "Ana te invita a Café Central" in html.unescape(landing)
    assert "50" in landing and "20" in landing  # welcome and the friend's points
    sent = post_form(
        friend,
        "/t/cafe/app/register",
        {"email": "bea@mail.example", "password": PASSWORD, "first_name": "Bea"},
    )
    assert sent.status_code == 200
    [mail] = [m for m in smtp_server.handler.wait_for(1) if m["To"] == "bea@mail.example"]
    # Opened on another device: the link itself remembers the invitation.
    elsewhere = browser(app)
    assert elsewhere.get(path_in(mail)).status_code == 302
    with db(shop) as session:
        bea = session.scalar(select(Membership).where(Membership.first_name == "Bea"))
        referral = session.scalar(select(Referral))
        assert (referral.referrer_id, referral.friend_id, referral.status) == (
            ana.id,
            bea.id,
            "pending",
        )
        give_points(session, bea, 10, actor=Actor.system())
        session.commit()
    told = [
        m
        for m in smtp_server.handler.messages
        if m["To"] == "ana.maria@gmail.com" and "amigo" in subject(m)
    ]
    assert len(told) == 1, [(m["To"], subject(m)) for m in smtp_server.handler.messages]
    assert "100" in subject(told[0]) and "Bea" in text_of(told[0])
    with db(shop) as session:
        assert session.get(Membership, ana.id).balance == 50 + 100
        assert session.get(Membership, bea.id).balance == 50 + 10 + 20
    page = elsewhere.get("/t/cafe/app/referrals/")  # Bea's own page now
    assert page.status_code == 200
    inviter = browser(app)
    sign_in_customer(inviter, app, ana)
    mine = html.unescape(inviter.get("/t/cafe/app/referrals/").get_data(as_text=True))
    assert "Bea" in mine and "+100 puntos" in mine


def test_a_signed_in_person_joins_from_the_card_after_the_link(app, db, shop, ana):
    path = invite_path(browser(app), app, ana)
    friend = browser(app)
    sign_in_customer(friend, app, type("C", (), {"id": person(app, "cid@mail.example")})())
    landing = friend.get(path).get_data(as_text=True)
    answer = friend.post("/t/cafe/app/join", data={"csrf_token": csrf_token(landing)})
    assert answer.status_code == 302
    with db(shop) as session:
        referral = session.scalar(select(Referral))
        assert referral is not None and referral.referrer_id == ana.id


def test_a_member_opening_a_link_is_told_invitations_are_for_new_customers(
    client, app, shop, ana, make_member, db
):
    path = invite_path(browser(app), app, ana)
    old = make_member(shop, email="old@mail.example")
    sign_in_customer(client, app, old)
    page = html.unescape(client.get(path).get_data(as_text=True))
    assert "Ya eres cliente de Café Central" in page
    assert client.post("/t/cafe/app/join", data={"csrf_token": csrf_token(page)}).status_code == 302
    with db(shop) as session:
        assert session.scalar(select(Referral)) is None


def test_links_open_nothing_on_another_merchants_pages_or_where_the_plugin_is_off(
    client, app, shop, ana, make_tenant, make_member, platform, db
):
    path, code = INVITE.search(
        (lambda c: (sign_in_customer(c, app, ana), c.get("/t/cafe/app/referrals/"))[1])(
            client
        ).get_data(as_text=True)
    ).groups()
    make_tenant(slug="bar")
    visitor = browser(app)
    assert visitor.get(f"/t/bar/app/referrals/i/{code}").status_code == 404
    assert visitor.get("/t/cafe/app/referrals/i/ZZZZZZZZZZ").status_code == 404
    assert visitor.get("/t/cafe/app/referrals/i/x").status_code == 404
    assert visitor.get(path).status_code == 200
    # The invite page is a signed-in member's own.
    assert visitor.get("/t/cafe/app/referrals/").status_code == 302
    with db(shop) as session:
        platform.plugins.switch(session, shop, "referrals", False)
        session.commit()
    assert visitor.get(path).status_code == 404
    assert client.get("/t/cafe/app/referrals/").status_code == 404
    assert "/app/referrals/" not in client.get("/t/cafe/app/").get_data(as_text=True)


def test_the_pages_speak_english_and_portuguese(app, make_tenant, make_member):
    for language, title, line in (
        ("en", "Ana invites you to Pub", "Invite friends"),
        ("pt_BR", "Ana convida você para Pub", "Indicar amigos"),
    ):
        slug = "pub-" + language.lower().replace("_", "-")
        pub = make_tenant(slug=slug, name="Pub", language=language)
        ana = make_member(pub, email=f"ana-{language}@mail.example", first_name="Ana")
        inviter = browser(app)
        sign_in_customer(inviter, app, ana)
        page = html.unescape(inviter.get(f"/t/{pub.slug}/app/referrals/").get_data(as_text=True))
        assert line in page
        path = re.search(r'value="https?://[^/"]+(/t/[^"]+/app/referrals/i/[A-Z0-9]{10})"', page)[1]
        landing = browser(app).get(path).get_data(as_text=True)
        assert title in html.unescape(landing), language
