"""The set-based expiry of unused points (run monthly by core.expiry)."""


from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    cast,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from core.customers import Membership
from core.db import session_tenant_id, utcnow
from core.ledger.entries import Allocation, Entry, Kind, Lot
from core.ledger.operations import system_key

# The members one expiry run works on (a temporary table, private to the connection).
_EXPIRING = Table(
    "premia_expiring_members", MetaData(), Column("member_id", Integer, primary_key=True)
)


def expire_due(session: Session, as_of: datetime) -> int:
    """Expire every unused point of the session's tenant due by `as_of`.

    Set-based SQL, one transaction: one `expire` entry per member, with the
    allocations to the lots it empties. Safe to run twice (the second run finds
    nothing due) and concurrently with redemptions (members are locked first).
    Returns the number of expire entries written.
    """
    tenant_id = session_tenant_id(session)
    now = utcnow()
    conn = session.connection()  # Core statements: no ORM bookkeeping over many rows
    # Lock the members with points due, in id order, and remember exactly that set:
    # every later statement works on it alone, so a lot that becomes due meanwhile
    # (a refund into an expired lot) cannot slip in without its member's lock.
    conn.execute(text(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {_EXPIRING.name} (member_id INTEGER PRIMARY KEY)"
    ))
    conn.execute(_EXPIRING.delete())
    # These are Core statements over several tables: the tenant filter is explicit.
    candidates = and_(Lot.tenant_id == tenant_id, Lot.remaining > 0, Lot.expires_at <= as_of)
    conn.execute(
        insert(_EXPIRING).from_select(
            ["member_id"],
            select(Membership.id)
            .where(Membership.tenant_id == tenant_id,
                   Membership.id.in_(select(Lot.member_id).where(candidates)))
            .order_by(Membership.id)
            .with_for_update(),
        )
    )
    due = and_(candidates, Lot.member_id.in_(select(_EXPIRING.c.member_id)))
    # Not every locked member: one whose due points a redemption took while we waited
    # for its lock has nothing due now (its balance must not become balance - NULL).
    due_members = select(Lot.member_id).where(due)

    # The key ties each new entry to its allocations below. It names this run, not
    # only `as_of`: a refund into an expired lot makes points due again, and a
    # second run at the same `as_of` must expire them, not collide with the first.
    key_prefix = system_key("expire", as_of.isoformat(), secrets.token_hex(6)) + ":"
    totals = (
        select(Lot.member_id, func.sum(Lot.remaining).label("total"))
        .where(due)
        .group_by(Lot.member_id)
        .subquery()
    )
    entries = (
        select(
            literal(tenant_id),
            totals.c.member_id,
            literal(Kind.EXPIRE.value),
            -totals.c.total,
            Membership.balance - totals.c.total,
            literal("system"),
            literal(now, type_=Entry.created_at.type),
            literal(key_prefix) + cast(totals.c.member_id, String),
        )
        .join(Membership, Membership.id == totals.c.member_id)
    )
    # The members are locked: the count of those with points due is what we write.
    written = conn.scalar(select(func.count()).select_from(totals))
    if not written:
        return 0
    conn.execute(
        insert(Entry.__table__).from_select(
            ["tenant_id", "member_id", "kind", "points", "balance_after", "actor_kind",
             "created_at", "idempotency_key"],
            entries,
        )
    )
    expire_entry = Entry.__table__.alias("e")
    conn.execute(
        insert(Allocation.__table__).from_select(
            ["tenant_id", "entry_id", "lot_id", "points"],
            select(literal(tenant_id), expire_entry.c.id, Lot.id, Lot.remaining)
            .join(
                expire_entry,
                and_(
                    expire_entry.c.tenant_id == tenant_id,
                    expire_entry.c.member_id == Lot.member_id,
                    expire_entry.c.idempotency_key
                    == literal(key_prefix) + cast(Lot.member_id, String),
                ),
            )
            .where(due),
        )
    )
    member_total = (
        select(func.sum(Lot.remaining))
        .where(due, Lot.member_id == Membership.__table__.c.id)
        .scalar_subquery()
    )
    conn.execute(
        update(Membership.__table__)
        .where(Membership.__table__.c.tenant_id == tenant_id)
        .where(Membership.__table__.c.id.in_(due_members))
        .values(balance=Membership.__table__.c.balance - member_total)
    )
    conn.execute(update(Lot.__table__).where(due).values(remaining=0))
    conn.execute(_EXPIRING.delete())
    session.expire_all()  # cached balances and lots are stale now
    return written
