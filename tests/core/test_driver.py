"""Hot statements through the driver (core.host.driver): the same rows, objects, tenant
scope, events, errors and transaction as SQLAlchemy's execution gives."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import bindparam, event, select, text
from sqlalchemy.exc import DataError
from sqlalchemy.orm import make_transient

from core.host import driver
from core.host.db import TenancyError, platform_session
from core.loyalty.members import Customer, Membership
from core.loyalty.rewards import Reward

pytestmark = pytest.mark.postgres


def _by_code(statement):
    return statement.select_from(Membership).where(Membership.code == bindparam("code"))


BY_CODE = driver.EntityRead((Membership,), _by_code, person_lookup=True)
WITH_REWARD = driver.EntityRead(
    (Membership, Reward),
    lambda s: _by_code(s).outerjoin(Reward, Reward.name == bindparam("reward")),
    person_lookup=True,
)


def _columns(row) -> dict:
    return {prop.key: getattr(row, prop.key) for prop in row.__mapper__.column_attrs}


def test_a_member_read_through_the_driver_is_the_one_the_orm_reads(make_tenant, make_member, db):
    shop = make_tenant()
    member = make_member(shop, phone="+54 11 5555 0000", birthday=date(1990, 5, 17))
    with db(shop) as session:
        orm = _columns(session.scalars(select(Membership).filter_by(code=member.code)).one())
    with db(shop) as session:
        (read,) = BY_CODE.first(session, {"code": member.code})
        # Every column with its value and type (a datetime keeps its zone, a date a date).
        assert [(k, v, type(v)) for k, v in _columns(read).items()] == [
            (k, v, type(v)) for k, v in orm.items()
        ]
        assert read.birthday == date(1990, 5, 17) and read.created_at.tzinfo is not None
        # The session's own, as loaded: nothing to flush; its account loads when asked.
        assert read in session and not session.dirty and not session.new
        assert read.customer.email == member.email
        assert session.get(Membership, read.id) is read


def test_a_read_sees_only_the_sessions_tenant(make_tenant, make_member, db):
    shop, other = make_tenant(), make_tenant()
    member = make_member(shop)
    with db(other) as session:
        assert BY_CODE.first(session, {"code": member.code}) is None
    with db(shop) as session:
        assert BY_CODE.first(session, {"code": member.code})[0].id == member.id
    with db(other) as session:  # the statement compiled for `shop` is not reused
        assert BY_CODE.first(session, {"code": member.code}) is None


def test_a_read_needs_a_session_of_one_tenant(make_tenant, make_member, platform):
    member = make_member(make_tenant())
    with platform_session(platform.sessions) as session, pytest.raises(TenancyError):
        BY_CODE.first(session, {"code": member.code})


def test_an_object_in_the_session_is_read_afresh(make_tenant, make_member, db):
    shop = make_tenant()
    member = make_member(shop)
    with db(shop) as session:
        held = session.get(Membership, member.id)
        held.first_name = "Unsaved"
        with db(shop) as other:
            other.get(Membership, member.id).balance = 70
            other.commit()
        (read,) = BY_CODE.first(session, {"code": member.code})
        assert read is held
        assert (read.balance, read.first_name) == (70, member.first_name)
        assert not session.dirty


def test_an_outer_joined_entity_without_a_row_is_none(make_tenant, make_member, db):
    shop = make_tenant()
    member = make_member(shop)
    with db(shop) as session:
        session.add(Reward(name="Café", points=100))
        session.commit()
    with db(shop) as session:
        read, reward = WITH_REWARD.first(session, {"code": member.code, "reward": "Té"})
        assert read.id == member.id and reward is None
        read, reward = WITH_REWARD.first(session, {"code": member.code, "reward": "Café"})
        assert (reward.name, reward.points) == ("Café", 100)
        assert reward in session


def test_another_tenants_joined_row_is_not_read(make_tenant, make_member, db):
    shop, other = make_tenant(), make_tenant()
    member = make_member(shop)
    with db(other) as session:
        session.add(Reward(name="Café", points=100))
        session.commit()
    with db(shop) as session:
        _read, reward = WITH_REWARD.first(session, {"code": member.code, "reward": "Café"})
        assert reward is None


def test_cursor_events_see_the_statement_and_begin_rides_with_it(
    make_tenant, make_member, db, platform
):
    shop = make_tenant()
    member = make_member(shop)
    seen = []

    def listener(_conn, _cursor, sql, params, _context, _many):
        seen.append((sql, params))

    event.listen(platform.engine, "before_cursor_execute", listener)
    try:
        with db(shop) as session:
            BY_CODE.first(session, {"code": member.code})
            (written,) = driver.rows(
                session.connection(),
                text("UPDATE memberships SET balance = 5 WHERE id = :id RETURNING balance"),
                {"id": member.id},
            )
            assert written == (5,)
            session.rollback()  # the first statement began the transaction: all undone
    finally:
        event.remove(platform.engine, "before_cursor_execute", listener)
    assert len(seen) == 2 and "FROM memberships" in seen[0][0]
    assert seen[0][1]["code"] == member.code
    with db(shop) as session:
        assert session.get(Membership, member.id).balance == 0


def test_a_drivers_error_is_raised_as_sqlalchemy_raises_it(make_tenant, db):
    shop = make_tenant()
    with db(shop) as session:
        with pytest.raises(DataError):
            driver.rows(session.connection(), text("SELECT 1 / :zero"), {"zero": 0})
        session.rollback()
        assert driver.rows(session.connection(), text("SELECT :n"), {"n": 3}) == [(3,)]


def test_a_new_object_is_not_taken_for_one_read(make_tenant, make_member, db):
    """A member made transient in the session (its identity gone) is not the row read."""
    shop = make_tenant()
    member = make_member(shop)
    with db(shop) as session:
        held = session.get(Membership, member.id)
        session.expunge(held)
        make_transient(held)
        (read,) = BY_CODE.first(session, {"code": member.code})
        assert read is not held and read.id == member.id
        assert isinstance(read.customer, Customer)
