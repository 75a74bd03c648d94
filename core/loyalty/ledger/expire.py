"""The set-based expiry of unused points (run monthly by core.loyalty.expiry)."""

from __future__ import annotations

import secrets
from datetime import datetime
from itertools import pairwise
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
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
    true,
    update,
)
from sqlalchemy.orm import Session

from core.host.db import session_tenant_id, utcnow
from core.loyalty.ledger.entries import Allocation, Entry, Kind, Lot
from core.loyalty.ledger.operations import system_key
from core.loyalty.members import Membership

# What one expiry run works on: temporary tables, private to the connection.
_META = MetaData()
_MEMBERS = Table(  # the members locked, with points due when the run looked
    "premia_expiry_members", _META, Column("member_id", Integer, primary_key=True)
)
_LOTS = Table(  # their lots due, read once they are locked
    "premia_expiry_lots",
    _META,
    Column("lot_id", Integer, primary_key=True),
    Column("member_id", Integer, nullable=False),
    Column("points", Integer, nullable=False),
)
_TOTALS = Table(  # one row per expire entry to write
    "premia_expiry_totals",
    _META,
    Column("member_id", Integer, primary_key=True),
    Column("points", Integer, nullable=False),
    Column("entry_id", Integer),
)
_TEMPORARY = (_MEMBERS, _LOTS, _TOTALS)

# Member ids [first, before), None for no bound: the part of the tenant one call expires.
MemberRange = tuple[int | None, int | None]
EVERY_MEMBER: MemberRange = (None, None)


def expire_due(session: Session, as_of: datetime, members: MemberRange = EVERY_MEMBER) -> int:
    """Expire every unused point of the session's tenant due by `as_of`, of the members
    with ids in `members` ([first, before); None: unbounded).

    Set-based SQL, in the session's transaction: one `expire` entry per member, with
    the allocations to the lots it empties. Safe to run twice (the second run finds
    nothing due) and concurrently with redemptions (members are locked first), and,
    for disjoint ranges, side by side in several transactions (`due_ranges`).
    Returns the number of expire entries written.

    Every write is driven from a temporary table in the order of the index it
    touches most (lots by id, members by id): over a million members, rows in
    index order touch each page once, where the order of the expiry index
    (by date) touched a random page of the lots and of each of their indexes
    for every row, thirty times slower.
    """
    tenant_id = session_tenant_id(session)
    now = utcnow()
    conn = session.connection()  # Core statements: no ORM bookkeeping over many rows
    postgres = conn.dialect.name == "postgresql"
    for table in _TEMPORARY:
        _create_temporary(conn, table)
        _empty(conn, table, postgres)
    if postgres:
        # Sorts and hashes of a million rows in memory rather than in temporary files.
        conn.execute(text("SET LOCAL work_mem = '64MB'"))

    # Lock the members with points due, in id order, and remember exactly that set:
    # the lots are read after the locks, so a redemption that took due points while
    # we waited is seen, and a lot that becomes due meanwhile (a refund into an
    # expired lot) cannot slip in without its member's lock.
    due = and_(_due(tenant_id, as_of), _within(Lot.member_id, members))
    conn.execute(
        insert(_MEMBERS).from_select(
            ["member_id"],
            select(Membership.id)
            .where(
                Membership.tenant_id == tenant_id,
                _within(Membership.id, members),
                Membership.id.in_(select(Lot.member_id).where(due)),
            )
            .order_by(Membership.id)
            .with_for_update(key_share=True),
        )
    )
    conn.execute(
        insert(_LOTS).from_select(
            ["lot_id", "member_id", "points"],
            select(Lot.id, Lot.member_id, Lot.remaining)
            .where(due, Lot.member_id.in_(select(_MEMBERS.c.member_id)))
            .order_by(Lot.id),
        )
    )
    # Not every locked member: one whose due points a redemption took while we waited
    # for its lock has nothing due now.
    conn.execute(
        insert(_TOTALS).from_select(
            ["member_id", "points"],
            select(_LOTS.c.member_id, func.sum(_LOTS.c.points))
            .group_by(_LOTS.c.member_id)
            .order_by(_LOTS.c.member_id),
        )
    )
    written = conn.scalar(select(func.count()).select_from(_TOTALS))
    if not written:
        return 0
    if postgres:  # temporary tables are never analysed by autovacuum
        conn.execute(text(f"ANALYZE {_LOTS.name}, {_TOTALS.name}"))

    # The key ties each new entry to its allocations below. It names this run, not
    # only `as_of`: a refund into an expired lot makes points due again, and a
    # second run at the same `as_of` must expire them, not collide with the first.
    key_prefix = system_key("expire", as_of.isoformat(), secrets.token_hex(6)) + ":"
    key = literal(key_prefix) + cast(_TOTALS.c.member_id, String)
    members = Membership.__table__
    conn.execute(
        insert(Entry.__table__).from_select(
            [
                "tenant_id",
                "member_id",
                "kind",
                "points",
                "balance_after",
                "actor_kind",
                "created_at",
                "idempotency_key",
            ],
            select(
                literal(tenant_id),
                _TOTALS.c.member_id,
                literal(Kind.EXPIRE.value),
                -_TOTALS.c.points,
                members.c.balance - _TOTALS.c.points,
                literal("system"),
                literal(now, type_=Entry.created_at.type),
                key,
            )
            .join(
                members, and_(members.c.tenant_id == tenant_id, members.c.id == _TOTALS.c.member_id)
            )
            .order_by(_TOTALS.c.member_id),
        )
    )
    entries = Entry.__table__
    conn.execute(
        update(_TOTALS)
        .where(entries.c.tenant_id == tenant_id, entries.c.idempotency_key == key)
        .values(entry_id=entries.c.id)
    )
    conn.execute(
        insert(Allocation.__table__).from_select(
            ["tenant_id", "entry_id", "lot_id", "points"],
            select(literal(tenant_id), _TOTALS.c.entry_id, _LOTS.c.lot_id, _LOTS.c.points)
            .join(_TOTALS, _TOTALS.c.member_id == _LOTS.c.member_id)
            .order_by(_LOTS.c.lot_id),
        )
    )
    conn.execute(
        update(members)
        .where(members.c.tenant_id == tenant_id, members.c.id == _TOTALS.c.member_id)
        .values(balance=members.c.balance - _TOTALS.c.points)
    )
    lots = Lot.__table__
    conn.execute(
        update(lots)
        .where(lots.c.tenant_id == tenant_id, lots.c.id == _LOTS.c.lot_id)
        .values(remaining=0)
    )
    for table in _TEMPORARY:
        _empty(conn, table, postgres)
    session.expire_all()  # cached balances and lots are stale now
    return written


def due_ranges(session: Session, as_of: datetime, parts: int) -> list[MemberRange]:
    """Up to `parts` ranges of member ids, together covering every member, each holding
    about as many of the lots due by `as_of` (one statement over the due lots' index).

    `expire_due` over each range, each in its own transaction, expires what one call
    over every member would; the ranges run side by side on a server's cores."""
    tenant_id = session_tenant_id(session)
    if parts <= 1:
        return [EVERY_MEMBER]
    numbered = (
        select(Lot.member_id, func.ntile(parts).over(order_by=Lot.member_id).label("part"))
        .where(_due(tenant_id, as_of))
        .subquery()
    )
    firsts = (
        session.execute(
            select(func.min(numbered.c.member_id))
            .group_by(numbered.c.part)
            .order_by(numbered.c.part)
        )
        .scalars()
        .all()
    )
    # A member's lots may straddle two parts: a bound repeated is a part left empty.
    bounds: list[int | None] = [None, *sorted(set(firsts[1:])), None]
    return list(pairwise(bounds))


def _due(tenant_id: int, as_of: datetime) -> ColumnElement[bool]:
    # Core statements over several tables: the tenant filter is explicit.
    return and_(Lot.tenant_id == tenant_id, Lot.remaining > 0, Lot.expires_at <= as_of)


def _within(column: Any, members: MemberRange) -> ColumnElement[bool]:
    first, before = members
    return and_(
        column >= first if first is not None else true(),
        column < before if before is not None else true(),
    )


def _create_temporary(conn: Connection, table: Table) -> None:
    columns = ", ".join(
        f"{column.name} INTEGER{' PRIMARY KEY' if column.primary_key else ''}"
        f"{' NOT NULL' if not column.nullable and not column.primary_key else ''}"
        for column in table.columns
    )
    conn.execute(text(f"CREATE TEMPORARY TABLE IF NOT EXISTS {table.name} ({columns})"))


def _empty(conn: Connection, table: Table, postgres: bool) -> None:
    # TRUNCATE leaves no dead rows behind in a table that lives as long as the connection.
    conn.execute(text(f"TRUNCATE {table.name}") if postgres else table.delete())
