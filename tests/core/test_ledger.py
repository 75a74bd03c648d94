"""The ledger from the merchant's side, with concrete numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import bindparam, event, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from core.host.actors import Actor
from core.host.errors import (
    BalanceLimit,
    IdempotencyMismatch,
    InsufficientPoints,
    InvalidInput,
    NotFound,
)
from core.loyalty import ledger
from core.loyalty.members import Membership, ReadAlong, get_member
from core.loyalty.program import update_program

STAFF = Actor.staff(1)


@pytest.fixture
def shop(make_tenant, db):
    tenant = make_tenant()
    with db(tenant) as session:
        update_program(session, {"points_per_amount": {"amount": "1000", "points": 1}})
        session.commit()
    return tenant


def _member(db, tenant, code):
    return db(tenant), code


def audit(db, tenant, member_id):
    with db(tenant) as session:
        return ledger.audit_member(session, member_id)


def test_earn_points_updates_balance_and_entry(shop, make_member, db):
    member = make_member(shop)
    with db(shop) as session:
        entry = ledger.earn(
            session,
            get_member(session, member.code),
            points=120,
            actor=STAFF,
            description="factura interna",
            reference="F-001",
        )
        session.commit()
    assert (entry.kind, entry.points, entry.balance_after) == ("earn", 120, 120)
    assert audit(db, shop, member.id) == (120, 120, 120)


def test_a_balance_never_passes_what_the_database_holds(shop, make_member, db):
    member = make_member(shop)
    with db(shop) as session:
        for _ in range(2):
            ledger.earn(session, get_member(session, member.code), points=10**9, actor=STAFF)
        session.commit()
        with pytest.raises(BalanceLimit) as refused:  # 3e9 > 2**31 - 1: not a DataError
            ledger.earn(session, get_member(session, member.code), points=10**9, actor=STAFF)
        assert (refused.value.status, refused.value.reason) == (409, "balance_limit")
        session.rollback()
        top = ledger.earn(
            session, get_member(session, member.code), points=2**31 - 1 - 2 * 10**9, actor=STAFF
        )
        session.commit()
    assert top.balance_after == 2**31 - 1
    assert audit(db, shop, member.id) == (2**31 - 1,) * 3


def test_welcome_points_on_joining(make_tenant, make_member, db):
    tenant = make_tenant()
    with db(tenant) as session:
        update_program(session, {"welcome_points": 50})
        session.commit()
    member = make_member(tenant)
    with db(tenant) as session:
        entries = ledger.history(session, member)
    assert [(e.kind, e.points) for e in entries] == [("welcome", 50)]
    assert audit(db, tenant, member.id) == (50, 50, 50)


def test_redeem_takes_soonest_expiring_lot_first(shop, make_member, db):
    member = make_member(shop)
    with db(shop) as session:
        update_program(session, {"expiry_months": 12})
        first = ledger.earn(session, member, points=100, actor=STAFF)
        second = ledger.earn(session, member, points=100, actor=STAFF)
        # make the second lot expire sooner than the first
        session.execute(
            update(ledger.Lot)
            .where(ledger.Lot.entry_id == second.id)
            .values(expires_at=datetime.now(UTC) + timedelta(days=10))
        )
        ledger.redeem(session, member, 150, actor=STAFF)
        session.commit()
        lots = {lot.entry_id: lot.remaining for lot in session.scalars(select(ledger.Lot))}
    assert lots == {first.id: 50, second.id: 0}
    assert audit(db, shop, member.id) == (50, 50, 50)


def test_redeem_more_than_balance_is_refused_and_writes_nothing(shop, make_member, db):
    member = make_member(shop)
    with db(shop) as session:
        ledger.earn(session, member, points=10, actor=STAFF)
        session.commit()
        with pytest.raises(InsufficientPoints):
            ledger.redeem(session, member, 11, actor=STAFF)
        session.rollback()
    assert audit(db, shop, member.id) == (10, 10, 10)


def test_refund_puts_points_back_into_the_same_lots(shop, make_member, db):
    member = make_member(shop)
    with db(shop) as session:
        earned = ledger.earn(session, member, points=100, actor=STAFF)
        debit = ledger.redeem(session, member, 70, actor=STAFF)
        refund = ledger.refund(session, debit, actor=STAFF)
        session.commit()
        lot = session.scalar(select(ledger.Lot).where(ledger.Lot.entry_id == earned.id))
        assert (refund.points, refund.reverses_id, lot.remaining) == (70, debit.id, 100)
        with pytest.raises(InvalidInput):
            ledger.refund(session, debit, actor=STAFF)  # not twice
        session.rollback()
    assert audit(db, shop, member.id) == (100, 100, 100)


def test_adjust_needs_a_reason_and_may_go_down(shop, make_member, db):
    member = make_member(shop)
    with db(shop) as session:
        with pytest.raises(InvalidInput):
            ledger.adjust(session, member, 5, actor=STAFF, description=" ")
        ledger.adjust(session, member, 30, actor=STAFF, description="error de caja")
        ledger.adjust(session, member, -12, actor=STAFF, description="corrección")
        with pytest.raises(InsufficientPoints):
            ledger.adjust(session, member, -19, actor=STAFF, description="demasiado")
        session.commit()
    assert audit(db, shop, member.id) == (18, 18, 18)


def test_retry_with_same_key_returns_first_entry(shop, make_member, db):
    member = make_member(shop)
    with db(shop) as session:
        first = ledger.earn(session, member, points=10, actor=STAFF, idempotency_key="pos-1")
        session.commit()
    with db(shop) as session:
        again = ledger.earn(session, member, points=10, actor=STAFF, idempotency_key="pos-1")
        session.commit()
        assert again.id == first.id
        with pytest.raises(IdempotencyMismatch):
            ledger.earn(session, member, points=11, actor=STAFF, idempotency_key="pos-1")
    assert audit(db, shop, member.id) == (10, 10, 10)


def test_expire_due_is_set_based_and_safe_twice(shop, make_member, db):
    alice, bob = make_member(shop), make_member(shop)
    past = datetime(2026, 1, 1, tzinfo=UTC)
    with db(shop) as session:
        a1 = ledger.earn(session, alice, points=40, actor=STAFF)
        ledger.earn(session, alice, points=60, actor=STAFF)
        b1 = ledger.earn(session, bob, points=25, actor=STAFF)
        ledger.redeem(session, alice, 10, actor=STAFF)  # takes from a1 (oldest id, no expiry)
        session.execute(
            update(ledger.Lot)
            .where(ledger.Lot.entry_id.in_([a1.id, b1.id]))
            .values(expires_at=past)
        )
        session.commit()
        as_of = datetime(2026, 2, 1, tzinfo=UTC)
        assert ledger.expire_due(session, as_of) == 2
        session.commit()
        assert ledger.expire_due(session, as_of) == 0
        session.commit()
        expired = {
            e.member_id: e.points
            for e in session.scalars(select(ledger.Entry).where(ledger.Entry.kind == "expire"))
        }
    assert expired == {alice.id: -30, bob.id: -25}
    assert audit(db, shop, alice.id) == (60, 60, 60)
    assert audit(db, shop, bob.id) == (0, 0, 0)


def test_expire_due_by_ranges_of_members_expires_each_member_once(shop, make_member, db):
    """Ranges from `due_ranges`, each expired in its own transaction, cover every member
    with points due (and only those), whatever the number of parts asked for."""
    members = [make_member(shop) for _ in range(7)]
    past, as_of = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    with db(shop) as session:
        for n, member in enumerate(members):
            for points in (10 * (n + 1), 3):  # two lots each; only the first falls due
                ledger.earn(session, member, points=points, actor=STAFF)
        due_lots = session.scalars(select(ledger.Lot.id).where(ledger.Lot.points > 3)).all()
        session.execute(
            update(ledger.Lot).where(ledger.Lot.id.in_(due_lots)).values(expires_at=past)
        )
        ranges = ledger.due_ranges(session, as_of, parts=3)
        assert ledger.due_ranges(session, as_of, parts=1) == [ledger.EVERY_MEMBER]
        session.commit()
    assert len(ranges) == 3
    assert ranges[0][0] is None and ranges[-1][1] is None  # every id is in one range
    assert all(before == first for (_f, before), (first, _b) in pairwise(ranges))
    written = []
    for members_range in ranges:
        with db(shop) as session:
            written.append(ledger.expire_due(session, as_of, members_range))
            session.commit()
    assert sum(written) == 7
    assert all(n > 0 for n in written)  # about as many members in each part: 3, 2, 2
    with db(shop) as session:
        expired = {
            e.member_id: e.points
            for e in session.scalars(select(ledger.Entry).where(ledger.Entry.kind == "expire"))
        }
        assert ledger.expire_due(session, as_of) == 0
    assert expired == {m.id: -10 * (n + 1) for n, m in enumerate(members)}
    assert all(audit(db, shop, m.id) == (3, 3, 3) for m in members)


def test_database_refuses_a_negative_balance(shop, make_member, db):
    member = make_member(shop)
    with db(shop) as session, pytest.raises(IntegrityError):
        session.execute(update(Membership).where(Membership.id == member.id).values(balance=-1))


@pytest.mark.postgres
def test_database_refuses_to_change_an_entry(shop, make_member, db):
    member = make_member(shop)
    with db(shop) as session:
        entry = ledger.earn(session, member, points=5, actor=STAFF)
        session.commit()
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(
                text("UPDATE ledger_entries SET points = 500 WHERE id = :id"), {"id": entry.id}
            )


def test_a_redemption_reads_the_lots_afresh(shop, make_member, db):
    """Lots this session loaded earlier may be stale: another till redeemed meanwhile."""
    member = make_member(shop)
    with db(shop) as till_a:
        ledger.earn(till_a, member, points=100, actor=STAFF)
        till_a.commit()
        held = list(till_a.scalars(select(ledger.Lot)))  # till A holds the lot: 100 left
        till_a.commit()
        with db(shop) as till_b:
            ledger.redeem(till_b, member, 60, actor=STAFF)
            till_b.commit()
        ledger.redeem(till_a, member, 30, actor=STAFF)
        till_a.commit()
        assert [lot.remaining for lot in held] == [10]
    assert audit(db, shop, member.id) == (10, 10, 10)


def test_client_keys_cannot_collide_with_the_platforms(make_tenant, make_member, db):
    tenant = make_tenant()
    with db(tenant) as session:
        update_program(session, {"welcome_points": 50})
        session.commit()
    member = make_member(tenant)  # its welcome entry carries the platform's own key
    with db(tenant) as session:
        for key in (f"welcome:{member.id}", f"system:welcome:{member.id}"):
            entry = ledger.earn(session, member, points=5, actor=STAFF, idempotency_key=key)
            assert entry.kind == "earn"
        session.commit()
    assert audit(db, tenant, member.id) == (60, 60, 60)


@pytest.mark.postgres  # SQLite has no row locks: its writers are serialised as a whole
def test_a_member_is_locked_once_per_transaction(make_tenant, make_plan, make_member, db, platform):
    """The lock lasts as long as the transaction (or savepoint) that took it: taking it
    again inside costs no statement; after a commit, or a savepoint rolled back, it is
    taken again. (A merchant with no plugin: their after-commit work, such as a survey
    offered with the points' e-mail, takes locks of its own.)"""
    make_plan("bare", set())
    shop = make_tenant(plan="bare")
    member = make_member(shop)
    locks: list[str] = []

    def listener(_conn, _cursor, sql, *_args):
        if "FOR NO KEY UPDATE" in sql and "memberships" in sql:
            locks.append(sql)

    event.listen(platform.engine, "before_cursor_execute", listener)
    try:
        with db(shop) as session:
            locked = ledger.lock_member_by_code(session, member.code)
            assert ledger.lock_member(session, member.id) is locked
            ledger.earn(session, locked, points=5, actor=STAFF)  # locks inside: no statement
            assert len(locks) == 1
            session.commit()
            ledger.lock_member(session, member.id)
            assert len(locks) == 2
            with session.begin_nested() as savepoint:
                ledger.lock_member(session, member.id)  # held by the outer transaction
                assert len(locks) == 2
            session.rollback()
            nested = session.begin_nested()
            ledger.lock_member(session, member.id)
            assert len(locks) == 3
            nested.rollback()  # the savepoint's lock is gone with it
            ledger.lock_member(session, member.id)
            assert len(locks) == 4
            assert not savepoint.is_active
    finally:
        event.remove(platform.engine, "before_cursor_execute", listener)
    assert audit(db, shop, member.id) == (5, 5, 5)


def test_a_key_is_read_once_where_the_member_is_locked_already(shop, make_member, db, platform):
    """A till door locks the member first: the ledger then reads the key under that
    lock only (before it, a retry found by key takes no lock). A retry is still a
    replay either way."""
    member = make_member(shop)
    reads: list[str] = []

    def listener(_conn, _cursor, sql, *_args):
        if "FROM ledger_entries" in sql and "idempotency_key" in sql.split("WHERE", 1)[-1]:
            reads.append(sql)

    with db(shop) as session:
        ledger.earn(session, session.get(Membership, member.id), points=50, actor=STAFF)
        session.commit()
    event.listen(platform.engine, "before_cursor_execute", listener)
    try:
        with db(shop) as session:
            locked = ledger.lock_member_by_code(session, member.code)
            first = ledger.redeem(session, locked, 10, actor=STAFF, idempotency_key="till-1")
            assert len(reads) == 1
            again = ledger.redeem(session, locked, 10, actor=STAFF, idempotency_key="till-1")
            assert again is first and len(reads) == 2
            session.commit()
        with db(shop) as session:  # not locked: read before the lock, and under it
            unlocked = session.get(Membership, member.id)
            entry = ledger.redeem(session, unlocked, 10, actor=STAFF, idempotency_key="till-2")
            entry_id = entry.id
            assert len(reads) == 4
            session.commit()
        with db(shop) as session:  # a retry is found before the lock
            unlocked = session.get(Membership, member.id)
            retry = ledger.redeem(session, unlocked, 10, actor=STAFF, idempotency_key="till-2")
            assert retry.id == entry_id and len(reads) == 5
    finally:
        event.remove(platform.engine, "before_cursor_execute", listener)
    assert audit(db, shop, member.id) == (30, 30, 30)


def test_locking_by_an_unknown_code_is_not_found(shop, db):
    with db(shop) as session, pytest.raises(NotFound):
        ledger.lock_member_by_code(session, "NOSUCHCODE")


def test_a_row_read_along_the_lock_is_the_tenants_own(make_tenant, make_member, db):
    shop, other = make_tenant(), make_tenant()
    member, theirs = make_member(shop), make_member(other)
    along = ReadAlong(ledger.Entry, ledger.Entry.idempotency_key == bindparam("key"))
    with db(other) as session:
        ledger.earn(
            session,
            session.get(Membership, theirs.id),
            points=7,
            actor=STAFF,
            idempotency_key="shared",
        )
        session.commit()
    with db(shop) as session:
        stale = session.get(Membership, member.id)
        locked, found = ledger.lock_member_by_code_along(
            session, member.code, along, {"key": "client:shared"}
        )
        assert found is None  # the other merchant's entry with that key is not reached
        ledger.earn(session, locked, points=5, actor=STAFF, idempotency_key="shared")
        session.commit()
        session.execute(
            update(Membership).values(balance=Membership.balance + 1),
            execution_options={"synchronize_session": False},
        )
        again, found = ledger.lock_member_by_code_along(
            session, member.code, along, {"key": "client:shared"}
        )
        assert again is stale and stale.balance == 6  # read afresh under the lock
        assert (found.points, found.member_id) == (5, member.id)
        session.rollback()
