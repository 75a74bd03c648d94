"""Linked identities' rules, on the services: which account a social sign-in opens,
linking, and keeping one way to sign in, also when requests race."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.customer_app import identities
from core.customer_app.identities import CustomerIdentity, Profile, SocialRefused
from core.host.db import make_engine, make_sessionmaker, platform_session, utcnow
from core.host.errors import NotFound
from core.loyalty.members import Customer
from tests.concurrency import run_together

pytestmark = pytest.mark.postgres


def google(subject: str, email: str | None, verified: bool = True) -> Profile:
    return Profile("google", subject, email, verified, "Ana", "Gil")


def facebook(subject: str, email: str | None) -> Profile:
    return Profile("facebook", subject, email, False)


@pytest.fixture
def session(platform):
    with platform_session(platform.sessions) as session:
        yield session


def test_a_known_identity_opens_its_account_whatever_the_email_says_now(session):
    customer, created = identities.sign_in(session, google("g1", "ana@mail.example"), "Google")
    session.commit()
    assert created and customer.email_confirmed_at is not None
    again, created = identities.sign_in(session, google("g1", "new@mail.example", False), "Google")
    assert (again.id, created) == (customer.id, False)


def test_a_deleted_account_is_not_opened(session):
    customer, _created = identities.sign_in(session, google("g1", "ana@mail.example"), "Google")
    customer.deleted_at, customer.email = utcnow(), f"deleted-{customer.id}@invalid"
    session.commit()
    again, created = identities.sign_in(session, google("g1", "ana@mail.example"), "Google")
    assert created and again.id != customer.id
    assert list(identities.identities_of(session, again.id)) == ["google"]
    assert identities.identities_of(session, customer.id) == {}


def test_forget_unlinks_every_identity_of_an_account(session):
    customer, _created = identities.sign_in(session, google("g1", "ana@mail.example"), "Google")
    identities.link(session, customer, facebook("f1", None), "Facebook")
    other, _created = identities.sign_in(session, google("g2", "eva@mail.example"), "Google")
    identities.forget(session, customer.id)
    assert identities.identities_of(session, customer.id) == {}
    assert list(identities.identities_of(session, other.id)) == ["google"]


def test_no_email_no_account(session):
    with pytest.raises(SocialRefused, match="Facebook"):
        identities.sign_in(session, facebook("f1", None), "Facebook")
    assert session.scalar(select(func.count()).select_from(Customer)) == 0


def test_one_account_per_provider_and_person(session):
    customer, _created = identities.sign_in(session, google("g1", "ana@mail.example"), "Google")
    assert identities.link(session, customer, google("g1", "ana@mail.example"), "Google") is False
    with pytest.raises(SocialRefused):
        identities.link(session, customer, google("g2", "ana@work.example"), "Google")
    assert identities.link(session, customer, facebook("f1", None), "Facebook") is True
    assert set(identities.identities_of(session, customer.id)) == {"google", "facebook"}


def test_unlinking_what_is_not_linked_is_not_found(session):
    customer, _created = identities.sign_in(session, google("g1", "ana@mail.example"), "Google")
    with pytest.raises(NotFound):
        identities.unlink(session, customer.id, "facebook")


@pytest.fixture
def factory(app, database_url):
    engine = make_engine(database_url, pool_size=4, max_overflow=0)
    yield make_sessionmaker(engine)
    engine.dispose()


def test_two_unlinks_at_once_leave_one_way_to_sign_in(app, factory):
    with platform_session(factory) as session:
        customer, _created = identities.sign_in(session, google("g1", "ana@mail.example"), "G")
        identities.link(session, customer, facebook("f1", "ana@mail.example"), "F")
        session.commit()
        customer_id = customer.id

    def unlink(i: int) -> str:
        with platform_session(factory) as session:
            try:
                identities.unlink(session, customer_id, ("google", "facebook")[i])
            except SocialRefused:
                return "refused"
            session.commit()
            return "unlinked"

    results = run_together(app, 2, unlink)
    assert sorted(result for _status, result in results) == ["refused", "unlinked"]
    with platform_session(factory) as session:
        assert session.scalar(select(func.count()).select_from(CustomerIdentity)) == 1


def test_the_same_person_signing_up_twice_at_once_gets_one_account(app, factory):
    def sign_up(_i: int) -> str:
        with platform_session(factory) as session:
            try:
                identities.sign_in(session, google("g1", "ana@mail.example"), "Google")
            except SocialRefused:
                return "refused"
            session.commit()
            return "created"

    results = run_together(app, 2, sign_up)
    assert [status for status, _result in results] == ["ok", "ok"]
    with platform_session(factory) as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 1
        assert session.scalar(select(func.count()).select_from(CustomerIdentity)) == 1
