"""Credits in bulk (`ledger.credit_in_bulk`): exact entries, lots and balances, every
invariant kept (balance = sum of entries = sum of open lots, running balance_after),
keys written once, all or nothing, and never a member of another merchant."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from core.host.actors import Actor
from core.host.db import clock_at
from core.host.errors import BalanceLimit, InvalidInput
from core.loyalty import ledger
from core.loyalty.ledger import BulkCredit, Entry, Lot, credit_in_bulk, system_key
from core.loyalty.ledger.operations import MAX_BALANCE
from core.loyalty.members import Membership, get_member
from core.loyalty.program import update_program

STAFF = Actor.staff(1)


def key(*parts: object) -> ledger.SystemKey:
    return system_key("test-bulk", *parts)


def test_each_credit_an_entry_and_a_lot_with_running_balances(make_tenant, make_member, db):
    shop = make_tenant()
    ana, bea = make_member(shop), make_member(shop)
    with db(shop) as session:
        update_program(session, {"expiry_months": 12})
        ledger.earn(session, get_member(session, ana.code), points=5, actor=STAFF)
        session.commit()
    at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    with db(shop) as session, clock_at(at):
        written = credit_in_bulk(
            session,
            [
                BulkCredit(ana.id, 10, key(1), "campaña", "R-1"),
                BulkCredit(bea.id, 7, key(2)),
                BulkCredit(ana.id, 3, key(3)),
            ],
            kind="earn",
            actor=STAFF,
        )
        session.commit()
    assert written == {key(1), key(2), key(3)}
    with db(shop) as session:
        entries = session.scalars(
            select(Entry).where(Entry.idempotency_key.like("system:test-bulk:%")).order_by(Entry.id)
        ).all()
        assert [(e.member_id, e.points, e.balance_after) for e in entries] == [
            (ana.id, 10, 15),
            (bea.id, 7, 7),
            (ana.id, 3, 18),
        ]
        assert (entries[0].description, entries[0].reference, entries[0].kind) == (
            "campaña",
            "R-1",
            "earn",
        )
        assert entries[0].actor_kind == "staff" and entries[0].created_at == at
        lots = session.scalars(select(Lot).where(Lot.entry_id.in_([e.id for e in entries])))
        for lot in lots:
            assert lot.remaining == lot.points
            assert lot.expires_at == datetime(2027, 3, 1, 12, tzinfo=UTC)
        assert ledger.audit_member(session, ana.id) == (18, 18, 18)
        assert ledger.audit_member(session, bea.id) == (7, 7, 7)
        # The lots are the ledger's own: a redemption takes from them as from any.
        ledger.redeem(session, get_member(session, ana.code), 16, actor=STAFF)
        session.commit()
        assert ledger.audit_member(session, ana.id) == (2, 2, 2)


def test_a_key_already_written_is_not_written_again(make_tenant, make_member, db):
    shop = make_tenant()
    ana = make_member(shop)
    with db(shop) as session:
        # A key `earn` wrote, then a batch naming it and a new one.
        ledger.earn(
            session, get_member(session, ana.code), points=4, actor=STAFF, idempotency_key=key(1)
        )
        written = credit_in_bulk(
            session,
            [BulkCredit(ana.id, 4, key(1)), BulkCredit(ana.id, 6, key(2))],
            kind="earn",
            actor=STAFF,
        )
        session.commit()
        assert written == {key(2)}
        again = credit_in_bulk(session, [BulkCredit(ana.id, 6, key(2))], kind="earn", actor=STAFF)
        session.commit()
        assert again == set()
        assert ledger.audit_member(session, ana.id) == (10, 10, 10)
        # The bulk entry is what `earn` itself would have written: a replay returns it.
        replay = ledger.earn(
            session, get_member(session, ana.code), points=6, actor=STAFF, idempotency_key=key(2)
        )
        assert replay.points == 6 and ledger.audit_member(session, ana.id)[0] == 10


def test_a_batch_is_all_or_nothing(make_tenant, make_member, db):
    shop = make_tenant()
    ana, bea = make_member(shop), make_member(shop)
    with db(shop) as session:
        with pytest.raises(InvalidInput):
            credit_in_bulk(
                session,
                [BulkCredit(ana.id, 5, key(1)), BulkCredit(bea.id, 0, key(2))],
                kind="earn",
                actor=STAFF,
            )
        # A balance 10 short of the ledger's maximum (its lots do not matter here).
        session.get(Membership, bea.id).balance = MAX_BALANCE - 10
        session.flush()
        with pytest.raises(BalanceLimit):
            credit_in_bulk(
                session,
                [BulkCredit(ana.id, 5, key(3)), BulkCredit(bea.id, 11, key(4))],
                kind="earn",
                actor=STAFF,
            )
        session.rollback()
    with db(shop) as session:
        assert session.scalar(select(func.count(Entry.id))) == 0
        with pytest.raises(ValueError, match="twice"):
            credit_in_bulk(
                session,
                [BulkCredit(ana.id, 5, key(5)), BulkCredit(ana.id, 5, key(5))],
                kind="earn",
                actor=STAFF,
            )


def test_another_merchants_member_is_refused_and_untouched(make_tenant, make_member, db):
    shop, other = make_tenant(), make_tenant()
    ours, theirs = make_member(shop), make_member(other)
    with db(shop) as session:
        with pytest.raises(ValueError, match="not the tenant's"):
            credit_in_bulk(
                session,
                [BulkCredit(ours.id, 5, key(1)), BulkCredit(theirs.id, 5, key(2))],
                kind="earn",
                actor=STAFF,
            )
        session.rollback()
    with db(other) as session:
        assert ledger.audit_member(session, theirs.id) == (0, 0, 0)
    with db(shop) as session:
        assert ledger.audit_member(session, ours.id) == (0, 0, 0)


def test_opening_fingerprints_are_the_ones_earn_would_write():
    from core.loyalty.ledger.operations import _fingerprint, _opening_fingerprints

    for kind in ("opening", "Saldo “inicial” ñ", 'a"b\\c'):
        fingerprint = _opening_fingerprints(kind)
        for member_id, points in ((1, 1), (12345, 500), (2_000_000_000, 999_999)):
            expected = _fingerprint("credit", member_id, kind, points, None, None, None, None)
            assert fingerprint(member_id, points) == expected
