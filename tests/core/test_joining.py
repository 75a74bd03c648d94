"""Joining a merchant (core.loyalty.joining): the personal code's shape, drawing it
once, and joining once however many requests race to do it."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from core.host.actors import Actor
from core.host.db import make_engine, make_sessionmaker, platform_session, utcnow
from core.host.errors import Forbidden, NotFound
from core.loyalty import joining
from core.loyalty.customers import CODE_ALPHABET, CODE_LENGTH, new_code
from core.loyalty.ledger import Entry
from core.loyalty.members import Customer, Membership
from core.loyalty.program import update_program
from tests.concurrency import run_together, unexpected_errors


@pytest.fixture
def shop(make_tenant, db):
    tenant = make_tenant(slug="cafe")
    with db(tenant) as session:
        update_program(session, {"welcome_points": 50})
        session.commit()
    return tenant


@pytest.fixture
def person(platform):
    with platform_session(platform.sessions) as session:
        customer = Customer(email="ana@mail.example", email_confirmed_at=utcnow())
        session.add(customer)
        session.commit()
        return customer


def test_a_personal_code_is_never_a_member_code_and_is_read_as_typed():
    code = joining.new_personal_code()
    assert len(code) == joining.PERSONAL_CODE_LENGTH and set(code) <= set(CODE_ALPHABET)
    assert joining.as_personal_code(code) == code
    assert joining.as_personal_code(joining.spaced(code).lower()) == code
    assert joining.as_personal_code(f" {code[:6]}-{code[6:]} ") == code
    for member_code in (new_code() for _ in range(50)):
        assert len(member_code) == CODE_LENGTH and joining.as_personal_code(member_code) is None
    # Letters the alphabet leaves out (O, I, L, 0, 1), or another length, are no code.
    assert joining.as_personal_code("O" + code[1:]) is None
    assert joining.as_personal_code(code + "2") is None
    assert joining.as_personal_code("") is None


def test_codes_are_drawn_at_random():
    codes = {joining.new_personal_code() for _ in range(1000)}
    assert len(codes) == 1000


@pytest.mark.postgres
def test_racing_first_views_keep_one_code(app, platform, database_url, person):
    engine = make_engine(database_url, pool_size=10, max_overflow=0)
    factory = make_sessionmaker(engine)

    def draw(_i: int) -> str:
        with platform_session(factory) as session:
            code = joining.personal_code(session, session.get(Customer, person.id))
            session.commit()
            return code

    try:
        results = run_together(app, 8, draw)
    finally:
        engine.dispose()
    assert unexpected_errors(results) == []
    with platform_session(platform.sessions) as session:
        stored = session.get(Customer, person.id).personal_code
    assert {result for _status, result in results} == {stored}


@pytest.mark.postgres
def test_racing_joins_make_one_member_with_one_welcome(app, db, shop, person, sessions):
    def join(_i: int) -> int:
        with sessions(shop.id) as session:
            customer = session.scalar(
                select(Customer).where(Customer.id == person.id),
                execution_options={"person_lookup": True},
            )
            member = joining.join(session, customer, joined_via="app", actor=Actor.system())
            session.commit()
            return member.id

    results = run_together(app, 8, join)
    assert unexpected_errors(results) == []
    assert len(Counter(result for _status, result in results)) == 1
    with db(shop) as session:
        assert session.scalar(select(func.count(Membership.id))) == 1
        assert session.scalar(select(func.count(Entry.id))) == 1
        assert session.scalar(select(Membership.balance)) == 50


def test_an_unconfirmed_account_neither_joins_nor_gets_a_code(platform, db, shop):
    with platform_session(platform.sessions) as session:
        customer = Customer(email="eve@mail.example")
        session.add(customer)
        session.commit()
        with pytest.raises(Forbidden):
            joining.personal_code(session, customer)
        assert customer.personal_code is None
    with db(shop) as session:
        with pytest.raises(Forbidden):
            joining.join(session, customer, joined_via="app", actor=Actor.system())
        assert session.scalar(select(func.count(Membership.id))) == 0


def test_without_a_plugin_the_first_points_enrol_nobody(app, db, shop, person, platform):
    with platform_session(platform.sessions) as session:
        code = joining.personal_code(session, session.get(Customer, person.id))
        session.commit()
    with db(shop) as session:
        assert joining.joins_at_first_points(session) is False
        with pytest.raises(NotFound):
            joining.member_at_first_points(session, code, joined_via="api", actor=Actor.system())
        assert joining.find_newcomer(session, joining.spaced(code)).id == person.id
        assert session.scalar(select(func.count(Membership.id))) == 0
