"""The points ledger: append-only entries, lots, and the member's balance.

Invariants, kept under concurrency on PostgreSQL:

* a member's balance equals the sum of their entries and the sum of the
  `remaining` of their lots, and is never negative (the database refuses a
  negative balance or lot too);
* a credit (earn, welcome, adjust up, …) creates a lot; a debit (redeem,
  expire, adjust down, …) consumes lots, soonest-expiring first, and records
  which lots it took (allocations) so that a refund puts back exactly those;
* an operation carrying an idempotency key is written once: a retry returns
  the first entry and writes nothing.

Every operation locks the member's row (SELECT … FOR UPDATE) before reading
the balance, so operations on one member are serialised and operations on
different members run in parallel. Services flush but never commit: the caller
owns the transaction.
"""

from __future__ import annotations

import enum
import hashlib
import json
import secrets
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    CheckConstraint,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    cast,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from core.actors import Actor
from core.customers import Membership
from core.db import Base, TenantOwned, session_tenant_id, tenant_fk, tenant_key, utcnow
from core.errors import IdempotencyMismatch, InsufficientPoints, InvalidInput
from core.events import announce
from core.program import MAX_POINTS_PER_OPERATION, expiry_for, get_program, points_for_amount


class Kind(enum.StrEnum):
    """The core's entry kinds. Plugins add their own (referral, survey, coupon, …)."""

    EARN = "earn"
    WELCOME = "welcome"
    ADJUST = "adjust"
    REDEEM = "redeem"
    REFUND = "refund"
    EXPIRE = "expire"


KIND_LABELS = {
    Kind.EARN: _l("Points earned"),
    Kind.WELCOME: _l("Welcome points"),
    Kind.ADJUST: _l("Adjustment"),
    Kind.REDEEM: _l("Redemption"),
    Kind.REFUND: _l("Refund"),
    Kind.EXPIRE: _l("Points expired"),
}


def kind_label(kind: str) -> str:
    """The entry kind in the user's language (plugins' kinds show as their name)."""
    label = KIND_LABELS.get(kind)
    return str(label) if label is not None else kind.replace("_", " ")


class Entry(TenantOwned, Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        tenant_key(),
        tenant_fk("member_id", "memberships"),
        tenant_fk("location_id", "locations"),
        tenant_fk("reverses_id", "ledger_entries"),
        UniqueConstraint("tenant_id", "reverses_id"),
        UniqueConstraint("tenant_id", "idempotency_key"),
        CheckConstraint("points <> 0", name="points_not_zero"),
        CheckConstraint("balance_after >= 0", name="balance_after_not_negative"),
        Index("ix_ledger_entries_member_id_id", "member_id", "id"),
        Index("ix_ledger_entries_tenant_id_created_at", "tenant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(30))
    points: Mapped[int]
    balance_after: Mapped[int]
    actor_kind: Mapped[str] = mapped_column(String(12))
    actor_id: Mapped[int | None]
    location_id: Mapped[int | None]
    description: Mapped[str | None] = mapped_column(Text)  # internal, never shown to customers
    reference: Mapped[str | None] = mapped_column(String(120))  # e.g. invoice number
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    reverses_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    member: Mapped[Membership] = relationship(lazy="raise", viewonly=True)


class Lot(TenantOwned, Base):
    """Points earned together, with what is still unused and when it expires."""

    __tablename__ = "ledger_lots"
    __table_args__ = (
        tenant_key(),
        tenant_fk("member_id", "memberships"),
        tenant_fk("entry_id", "ledger_entries"),
        UniqueConstraint("tenant_id", "entry_id"),
        CheckConstraint("remaining >= 0", name="remaining_not_negative"),
        CheckConstraint("remaining <= points", name="remaining_within_points"),
        Index("ix_ledger_lots_member_id_expires_at", "member_id", "expires_at"),
        Index(
            "ix_ledger_lots_due",
            "tenant_id",
            "expires_at",
            postgresql_where=text("remaining > 0"),
            sqlite_where=text("remaining > 0"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int]
    entry_id: Mapped[int]
    points: Mapped[int]
    remaining: Mapped[int]
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Allocation(TenantOwned, Base):
    """How many points of one lot a debit entry consumed."""

    __tablename__ = "ledger_allocations"
    __table_args__ = (
        tenant_fk("entry_id", "ledger_entries"),
        tenant_fk("lot_id", "ledger_lots"),
        Index("ix_ledger_allocations_entry_id", "entry_id"),
        Index("ix_ledger_allocations_lot_id", "lot_id"),
        CheckConstraint("points > 0", name="points_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int]
    lot_id: Mapped[int]
    points: Mapped[int]


# The members one expiry run works on (a temporary table, private to the connection).
_EXPIRING = Table(
    "premia_expiring_members", MetaData(), Column("member_id", Integer, primary_key=True)
)


# --- public services -----------------------------------------------------


def earn(
    session: Session,
    member: Membership,
    *,
    points: int | None = None,
    amount: Decimal | None = None,
    actor: Actor,
    kind: str = Kind.EARN,
    location_id: int | None = None,
    description: str | None = None,
    reference: str | None = None,
    idempotency_key: str | None = None,
) -> Entry:
    """Give points, or the points an amount is worth under the program's equivalence."""
    idempotency_key = stored_key(idempotency_key)
    if (points is None) == (amount is None):
        raise InvalidInput(points=_l("Give either points or an amount, not both."))
    fingerprint = _fingerprint(
        "credit", member.id, kind, points, str(amount) if amount is not None else None,
        location_id, description, reference,
    )
    replay = _replay(session, idempotency_key, fingerprint)
    if replay is not None:
        return replay
    program = get_program(session)
    if amount is not None:
        points = points_for_amount(program, amount)
        if points == 0:
            raise InvalidInput(amount=_l("This amount is worth no points."))
    _check_points(points)
    return _credit(
        session, member, points, kind=kind, actor=actor, program=program,
        location_id=location_id, description=description, reference=reference,
        idempotency_key=idempotency_key, fingerprint=fingerprint,
    )


def give_welcome_points(session: Session, member: Membership, *, actor: Actor) -> Entry | None:
    program = get_program(session)
    if not program["welcome_points"]:
        return None
    return _credit(
        session, member, program["welcome_points"], kind=Kind.WELCOME, actor=actor,
        program=program, idempotency_key=system_key("welcome", member.id),
    )


def redeem(
    session: Session,
    member: Membership,
    points: int,
    *,
    actor: Actor,
    kind: str = Kind.REDEEM,
    location_id: int | None = None,
    description: str | None = None,
    reference: str | None = None,
    idempotency_key: str | None = None,
) -> Entry:
    """Take points from a member; InsufficientPoints if the balance does not cover them."""
    idempotency_key = stored_key(idempotency_key)
    _check_points(points)
    fingerprint = _fingerprint(
        "debit", member.id, kind, points, location_id, description, reference
    )
    replay = _replay(session, idempotency_key, fingerprint)
    if replay is not None:
        return replay
    return _debit(
        session, member, points, kind=kind, actor=actor, location_id=location_id,
        description=description, reference=reference, idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )


def adjust(
    session: Session,
    member: Membership,
    points: int,
    *,
    actor: Actor,
    description: str,
    location_id: int | None = None,
    idempotency_key: str | None = None,
) -> Entry:
    """A manual correction, up or down, with the reason in the description."""
    idempotency_key = stored_key(idempotency_key)
    if not (description or "").strip():
        raise InvalidInput(description=_l("Say why the balance is adjusted."))
    if not isinstance(points, int) or points == 0:
        raise InvalidInput(points=_l("The points must be a whole number other than zero."))
    _check_points(abs(points))
    fingerprint = _fingerprint("adjust", member.id, points, location_id, description)
    replay = _replay(session, idempotency_key, fingerprint)
    if replay is not None:
        return replay
    common = dict(
        kind=Kind.ADJUST, actor=actor, location_id=location_id, description=description,
        idempotency_key=idempotency_key, fingerprint=fingerprint,
    )
    if points > 0:
        return _credit(session, member, points, program=get_program(session), **common)
    return _debit(session, member, -points, **common)


def refund(
    session: Session,
    debit: Entry,
    *,
    actor: Actor,
    description: str | None = None,
    idempotency_key: str | None = None,
) -> Entry:
    """Give back the points of a debit entry, into the very lots it took them from."""
    idempotency_key = stored_key(idempotency_key)
    fingerprint = _fingerprint("refund", debit.id)
    replay = _replay(session, idempotency_key, fingerprint)
    if replay is not None:
        return replay
    member = _lock(session, debit.member_id)
    replay = _replay(session, idempotency_key, fingerprint)
    if replay is not None:
        return replay
    if debit.points >= 0 or debit.kind == Kind.EXPIRE:
        raise InvalidInput(entry=_l("Only a redemption or a deduction can be refunded."))
    if session.scalar(select(Entry.id).where(Entry.reverses_id == debit.id)):
        raise InvalidInput(entry=_l("This movement was already refunded."))
    allocations = session.scalars(select(Allocation).where(Allocation.entry_id == debit.id))
    points = -debit.points
    member.balance += points
    entry = Entry(
        member_id=member.id, kind=Kind.REFUND, points=points, balance_after=member.balance,
        actor_kind=actor.kind, actor_id=actor.id, location_id=debit.location_id,
        description=description, reference=debit.reference, reverses_id=debit.id,
        idempotency_key=idempotency_key, fingerprint=fingerprint,
    )
    session.add(entry)
    for allocation in allocations:
        session.execute(
            update(Lot)
            .where(Lot.id == allocation.lot_id)
            .values(remaining=Lot.remaining + allocation.points)
        )
    session.flush()
    announce(session, "entry_recorded", entry=entry, member=member)
    return entry


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


def history(session: Session, member: Membership, *, limit: int = 50, offset: int = 0):
    """The member's entries, newest first."""
    return list(
        session.scalars(
            select(Entry)
            .where(Entry.member_id == member.id)
            .order_by(Entry.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )


def audit_member(session: Session, member_id: int) -> tuple[int, int, int]:
    """(cached balance, sum of entries, sum of remaining lots): all three must agree."""
    balance = session.scalar(select(Membership.balance).where(Membership.id == member_id))
    entries = session.scalar(
        select(func.coalesce(func.sum(Entry.points), 0)).where(Entry.member_id == member_id)
    )
    lots = session.scalar(
        select(func.coalesce(func.sum(Lot.remaining), 0)).where(Lot.member_id == member_id)
    )
    return balance, entries, lots


# --- internals -----------------------------------------------------------


def _check_points(points: Any) -> None:
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise InvalidInput(points=_l("The points must be a whole number greater than zero."))
    if points > MAX_POINTS_PER_OPERATION:
        raise InvalidInput(points=_l("This number of points is too large."))


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


class SystemKey(str):
    """An idempotency key made by the platform itself (welcome points, redemptions)."""


def system_key(*parts: object) -> SystemKey:
    return SystemKey("system:" + ":".join(str(p) for p in parts))


def stored_key(key: str | None) -> str | None:
    """An idempotency key as stored. A caller's key gets a namespace of its own, so
    that no client key can collide with the platform's (`system_key`)."""
    if key is None or isinstance(key, SystemKey):
        return key
    if not isinstance(key, str) or not key.strip() or len(key) > 180:
        raise InvalidInput(idempotency_key=_l("The idempotency key must have 1 to 180 characters."))
    return f"client:{key}"


def _replay(session: Session, key: str | None, fingerprint: str) -> Entry | None:
    """The entry an earlier request with this (stored) key wrote, if any."""
    if key is None:
        return None
    entry = session.scalar(select(Entry).where(Entry.idempotency_key == key))
    if entry is not None and entry.fingerprint != fingerprint:
        raise IdempotencyMismatch()
    return entry


def _lock(session: Session, member_id: int) -> Membership:
    return session.execute(
        select(Membership)
        .where(Membership.id == member_id)
        .with_for_update(of=Membership)
        .execution_options(populate_existing=True)
    ).scalar_one()


def _credit(
    session: Session,
    member: Membership,
    points: int,
    *,
    kind: str,
    actor: Actor,
    program: dict[str, Any],
    location_id: int | None = None,
    description: str | None = None,
    reference: str | None = None,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
) -> Entry:
    member = _lock(session, member.id)
    twin = _replay(session, idempotency_key, fingerprint)  # committed while we waited?
    if twin is not None:
        return twin
    member.balance += points
    entry = Entry(
        member_id=member.id, kind=kind, points=points, balance_after=member.balance,
        actor_kind=actor.kind, actor_id=actor.id, location_id=location_id,
        description=description, reference=reference, idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )
    session.add(entry)
    session.flush()
    now = entry.created_at
    session.add(
        Lot(member_id=member.id, entry_id=entry.id, points=points, remaining=points,
            expires_at=expiry_for(program, now), created_at=now)
    )
    session.flush()
    announce(session, "entry_recorded", entry=entry, member=member)
    return entry


def _debit(
    session: Session,
    member: Membership,
    points: int,
    *,
    kind: str,
    actor: Actor,
    location_id: int | None = None,
    description: str | None = None,
    reference: str | None = None,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
) -> Entry:
    member = _lock(session, member.id)
    twin = _replay(session, idempotency_key, fingerprint)  # committed while we waited?
    if twin is not None:
        return twin
    if member.balance < points:
        raise InsufficientPoints()
    member.balance -= points
    entry = Entry(
        member_id=member.id, kind=kind, points=-points, balance_after=member.balance,
        actor_kind=actor.kind, actor_id=actor.id, location_id=location_id,
        description=description, reference=reference, idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )
    session.add(entry)
    session.flush()
    lots = session.scalars(
        select(Lot)
        .where(Lot.member_id == member.id, Lot.remaining > 0)
        .order_by(Lot.expires_at.is_(None), Lot.expires_at, Lot.id)
        # Read under the member's lock: never trust lots this session loaded before.
        .execution_options(populate_existing=True)
    )
    left = points
    for lot in lots:
        take = min(left, lot.remaining)
        lot.remaining -= take
        session.add(Allocation(entry_id=entry.id, lot_id=lot.id, points=take))
        left -= take
        if left == 0:
            break
    if left:  # the balance said yes but the lots say no: never write that
        raise RuntimeError(f"ledger out of balance for member {member.id}")
    session.flush()
    announce(session, "entry_recorded", entry=entry, member=member)
    return entry
