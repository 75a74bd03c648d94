"""Customer accounts' rules: registering, confirming, resetting, invitations; with the
e-mails caught by a real SMTP server and the links read from them."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from core.customer_app import accounts
from core.customer_app.sessions import CustomerSession, log_in
from core.host.db import platform_session
from core.host.errors import InvalidInput
from core.loyalty import invitations
from core.loyalty.ledger import Entry
from core.loyalty.members import Customer, Membership
from core.loyalty.program import update_program
from core.web.passwords import verify_password
from tests.tokens import tampered

PASSWORD = "mi-clave-de-cafe-7"
LINK = re.compile(r"https?://\S+/app/(?:confirm|password/reset|invitation)/[\w.\-]+")


def text_of(message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")


def token_in(message) -> str:
    return LINK.search(text_of(message)).group(0).rsplit("/", 1)[-1]


@pytest.fixture
def platform_db(platform):
    with platform_session(platform.sessions) as session:
        yield session


def account(platform, email: str) -> Customer | None:
    with platform_session(platform.sessions) as session:
        return session.scalar(select(Customer).where(Customer.email == email))


def test_registering_keeps_an_unconfirmed_account_and_mails_its_link(
    platform, platform_db, smtp_server
):
    done = accounts.register(
        platform_db, email=" Ana@Mail.example ", password=PASSWORD, first_name="Ana", language="en"
    )
    assert smtp_server.handler.messages == []  # sent once the account is committed
    platform_db.commit()
    ana = account(platform, "ana@mail.example")
    assert done.customer.id == ana.id and ana.email_confirmed_at is None
    assert ana.first_name == "Ana" and verify_password(ana.password_hash, PASSWORD)
    assert ana.password_hash.startswith("$argon2id$")  # as staff's
    [mail] = smtp_server.handler.wait_for(1)
    assert mail["To"] == "ana@mail.example" and mail["Subject"].startswith("Confirm your e-mail")
    assert PASSWORD not in mail.as_string()
    customer = accounts.confirm(platform_db, token_in(mail), None)
    platform_db.commit()
    assert customer.id == ana.id and account(platform, ana.email).email_confirmed_at is not None
    with pytest.raises(accounts.AlreadyConfirmed):  # a link works once
        accounts.confirm(platform_db, token_in(mail), None)


def test_registering_at_a_merchant_makes_a_member_once_confirmed(
    platform_db, db, make_tenant, smtp_server
):
    shop = make_tenant(slug="cafe")
    with db(shop) as session:
        update_program(session, {"welcome_points": 50})
        accounts.register(session, email="eva@mail.example", password=PASSWORD, tenant=shop)
        session.commit()
        assert session.scalars(select(Membership)).all() == []  # not before the e-mail is hers
    token = token_in(smtp_server.handler.wait_for(1)[0])
    with pytest.raises(accounts.LinkNotValid):  # a link is for the pages it came from
        accounts.confirm(platform_db, token, None)
    other = make_tenant(slug="otro")
    with db(other) as session, pytest.raises(accounts.LinkNotValid):
        accounts.confirm(session, token, other)
    with db(shop) as session:
        customer = accounts.confirm(session, token, shop)
        session.commit()
        member = session.scalars(select(Membership)).one()
        assert member.customer_id == customer.id and member.balance == 50
        assert member.joined_via == "app"
        assert [e.points for e in session.scalars(select(Entry))] == [50]


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("corta", "at least 8 characters"),
        ("password123", "most used"),
        ("Iloveyou", "most used"),
        ("aaaaaaaaaaaa", "most used"),
    ],
)
def test_weak_and_common_passwords_are_refused_and_nothing_is_kept(
    app, platform, platform_db, smtp_server, password, message
):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        with pytest.raises(InvalidInput) as refused:
            accounts.register(platform_db, email="ana@mail.example", password=password)
        assert message in str(refused.value.fields["password"])
    platform_db.rollback()
    assert account(platform, "ana@mail.example") is None
    assert smtp_server.handler.wait_for(1, timeout=0.3) == []


def test_an_email_with_an_account_changes_nothing_and_gets_a_mail(
    platform, platform_db, make_tenant, make_member, smtp_server
):
    member = make_member(make_tenant(slug="cafe"), "ana@mail.example")
    smtp_server.handler.messages.clear()  # the merchant's welcome
    done = accounts.register(platform_db, email="ana@mail.example", password=PASSWORD)
    platform_db.commit()
    assert done.customer is None
    ana = account(platform, "ana@mail.example")
    assert ana.id == member.customer_id and ana.password_hash is None
    [mail] = smtp_server.handler.wait_for(1)
    assert "/app/password/reset/" in text_of(mail)
    # Its link lets the owner of the e-mail choose a password (and confirms the e-mail).
    customer = accounts.customer_for_reset(platform_db, token_in(mail), None)
    accounts.set_password(platform_db, customer, PASSWORD)
    platform_db.commit()
    ana = account(platform, "ana@mail.example")
    assert verify_password(ana.password_hash, PASSWORD) and ana.email_confirmed_at is not None


def test_expired_and_tampered_links_are_refused(platform_db, smtp_server, monkeypatch):
    accounts.register(platform_db, email="ana@mail.example", password=PASSWORD)
    platform_db.commit()
    token = token_in(smtp_server.handler.wait_for(1)[0])
    for forged in (tampered(token), "not-a-token"):
        with pytest.raises(accounts.LinkNotValid) as refused:
            accounts.confirm(platform_db, forged, None)
        assert refused.value.payload is None
    monkeypatch.setattr(accounts, "CONFIRM_MAX_AGE", -1)
    with pytest.raises(accounts.LinkNotValid) as expired:
        accounts.confirm(platform_db, token, None)
    assert expired.value.payload["c"] == account_id(platform_db, "ana@mail.example")
    assert account_by(platform_db, "ana@mail.example").email_confirmed_at is None


def account_id(session, email: str) -> int:
    return account_by(session, email).id


def account_by(session, email: str) -> Customer:
    return session.scalar(select(Customer).where(Customer.email == email))


def test_a_reset_link_works_once_confirms_and_ends_every_session(
    app, platform, platform_db, smtp_server
):
    accounts.register(platform_db, email="ana@mail.example", password=PASSWORD)
    platform_db.commit()
    smtp_server.handler.wait_for(1)
    ana = account_by(platform_db, "ana@mail.example")
    with app.test_request_context():
        log_in(platform_db, ana)
    platform_db.commit()
    accounts.request_reset(platform_db, "ANA@mail.example", None, "es")
    accounts.request_reset(platform_db, "nadie@mail.example", None, "es")  # no account: no mail
    platform_db.commit()
    [_confirm, reset] = smtp_server.handler.wait_for(2)
    assert len(smtp_server.handler.wait_for(3, timeout=0.3)) == 2
    token = token_in(reset)
    customer = accounts.customer_for_reset(platform_db, token, None)
    accounts.set_password(platform_db, customer, "otra-clave-larga-8")
    platform_db.commit()
    ana = account(platform, "ana@mail.example")
    assert ana.email_confirmed_at is not None
    open_sessions = platform_db.scalars(
        select(CustomerSession).where(
            CustomerSession.customer_id == ana.id, CustomerSession.ended_at.is_(None)
        )
    ).all()
    assert open_sessions == []
    with pytest.raises(accounts.LinkNotValid):  # used
        accounts.customer_for_reset(platform_db, token, None)


def test_an_invitation_link_sets_the_first_password_at_its_merchant_only(
    platform_db, db, make_tenant, make_member
):
    shop, other = make_tenant(slug="cafe"), make_tenant(slug="bar")
    member = make_member(shop, "ana@mail.example")
    with db(shop) as session:
        invited = session.get(Membership, member.id)
        token = invitations.invitation_url(shop, invited).rsplit("/", 1)[-1]
    with db(other) as session, pytest.raises(accounts.LinkNotValid):
        accounts.member_for_invitation(session, token, other)
    with db(shop) as session:
        found = accounts.member_for_invitation(session, token, shop)
        assert found.id == member.id
        accounts.set_password(session, found.customer, PASSWORD)
        session.commit()
        with pytest.raises(accounts.LinkNotValid) as used:
            accounts.member_for_invitation(session, token, shop)
        assert used.value.payload["m"] == member.id  # genuine: a new one may be sent
    assert accounts.invited_payload(token, other) is None


def test_an_invitation_to_an_unconfirmed_account_lets_the_emails_owner_choose_the_password(
    platform, platform_db, db, make_tenant, make_member, smtp_server
):
    # Someone registered her e-mail (and never confirmed it); the merchant invites her.
    accounts.register(platform_db, email="ana@mail.example", password="la-de-otro-9")
    platform_db.commit()
    shop = make_tenant(slug="cafe")
    member = make_member(shop, "ana@mail.example")
    with db(shop) as session:
        invited = session.get(Membership, member.id)
        url = invitations.invitation_url(shop, invited)
        assert "/t/cafe/app/invitation/" in url
        found = accounts.member_for_invitation(session, url.rsplit("/", 1)[-1], shop)
        accounts.set_password(session, found.customer, PASSWORD)
        session.commit()
    ana = account(platform, "ana@mail.example")
    assert verify_password(ana.password_hash, PASSWORD) and ana.email_confirmed_at
    with db(shop) as session:  # confirmed: the next invitation's link is the sign-in
        invited = session.get(Membership, member.id)
        assert invitations.invitation_url(shop, invited).endswith("/t/cafe/app/login")
