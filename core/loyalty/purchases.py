"""Purchases: what a till, a CSV row or a POS records, and the points it earns; and
points given without a purchase.

These are the commands every door calls to give points (the panel and the cashier's
phone view, the POS API, later CSV import and coupons), so every program rule applies
the same way whichever door a grant comes through: the equivalence, the description
field (a note is not kept when it is off), whether employees may give points without
a purchase amount, and plugins' rules on purchases. A door only reads its request and
shows the answer; a confirmation it asks of a person (the panel's large grant) stays
its own step.

A purchase has a total, optional line items, a location, a reference (the
invoice number) and who recorded it. The points it earns are the program's
equivalence plus what active plugins add through `calculate_points` (tiers,
cashback, …), each written as its own labelled ledger entry so that everyone
can see why. A purchase is recorded once per idempotency key, or per reference
when there is no key. Returning it takes its points back out, as far as the
member still has them; what was already spent is recorded, never owed. A return may
be partial (some lines, or an amount): each part takes back the points earned in
proportion, and the purchase counts as spend only for what was kept.
"""

from __future__ import annotations

import enum
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    CheckConstraint,
    Index,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    case,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import (
    Mapped,
    Session,
    make_transient_to_detached,
    mapped_column,
    relationship,
)
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql import Subquery

from core.host import driver
from core.host.actors import Actor
from core.host.db import Base, TenantOwned, session_tenant_id, tenant_fk, tenant_key, utcnow
from core.host.errors import Conflict, IdempotencyMismatch, InvalidInput, NotFound
from core.host.events import announce
from core.loyalty import ledger
from core.loyalty.ledger import Entry, Kind
from core.loyalty.members import Membership
from core.loyalty.program import (
    PointsByAmountOnly,
    expiry_for,
    get_program,
    kept_description,
    may_give_points,
    points_for_amount,
)
from core.loyalty.staff import Role, StaffUser

MAX_AMOUNT = Decimal("9999999999.99")  # Numeric(12, 2): far beyond any bill
MAX_LINES = 500
MAX_QUANTITY = 100_000


class Status(enum.StrEnum):
    """A purchase is recorded, or returned (its points taken back)."""

    RECORDED = "recorded"
    RETURNED = "returned"


@dataclass(frozen=True)
class PointsLine:
    """Points a rule adds to a purchase; becomes one ledger entry of `kind` with `label`."""

    kind: str
    points: int
    label: str | None = None


@dataclass(frozen=True)
class Item:
    """A line item as a caller gives it (see `record_purchase`)."""

    quantity: int
    unit_price: Decimal
    sku: str | None = None
    product_group: str | None = None


class Purchase(TenantOwned, Base):
    """A member's purchase: its amount, lines, store and status; it earned the entries that point
    at it."""

    __tablename__ = "purchases"
    __table_args__ = (
        tenant_key(),
        # The tenant through the member, as the ledger's entries (core_0021).
        tenant_fk("member_id", "memberships", ondelete="CASCADE"),
        tenant_fk("location_id", "locations"),
        UniqueConstraint("tenant_id", "idempotency_key"),
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_purchases_member_id_created_at", "member_id", "created_at"),
        Index("ix_purchases_tenant_id_created_at", "tenant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int]
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    status: Mapped[str] = mapped_column(String(10), default=Status.RECORDED)
    location_id: Mapped[int | None]
    reference: Mapped[str | None] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(Text)  # internal, never shown to customers
    actor_kind: Mapped[str] = mapped_column(String(12))
    actor_id: Mapped[int | None]
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    points: Mapped[int] = mapped_column(default=0)  # all it earned, every rule included
    points_not_recovered: Mapped[int | None]  # on return: earned points already spent
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    returned_at: Mapped[datetime | None]
    # What partial returns gave back so far; the purchase counts as spend for the rest.
    returned_amount: Mapped[Decimal] = mapped_column(
        Numeric(12, 2), default=Decimal("0"), server_default="0"
    )
    # No key of its own to `tenants` (core_0021): implied by (tenant_id, member_id),
    # as the ledger's entries' (core_0020); one lookup and KEY SHARE lock less a sale.
    tenant_id: Mapped[int] = mapped_column(index=True)

    lines: Mapped[list[PurchaseLine]] = relationship(
        lazy="selectin", order_by="PurchaseLine.id", cascade="all, delete-orphan"
    )


class PurchaseLine(TenantOwned, Base):
    """One line of a purchase: SKU, product group, quantity and unit price."""

    __tablename__ = "purchase_lines"
    __table_args__ = (
        tenant_fk("purchase_id", "purchases"),
        Index("ix_purchase_lines_purchase_id", "purchase_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    purchase_id: Mapped[int]
    sku: Mapped[str | None] = mapped_column(String(64))
    product_group: Mapped[str | None] = mapped_column(String(64))
    quantity: Mapped[int]
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    returned_quantity: Mapped[int] = mapped_column(default=0, server_default="0")


class PurchaseReturn(TenantOwned, Base):
    """One return of (part of) a purchase: what came back, and the points it took back."""

    __tablename__ = "purchase_returns"
    __table_args__ = (
        tenant_fk("purchase_id", "purchases"),
        tenant_fk("member_id", "memberships"),
        tenant_fk("entry_id", "ledger_entries"),
        UniqueConstraint("tenant_id", "idempotency_key"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        Index("ix_purchase_returns_purchase_id", "purchase_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    purchase_id: Mapped[int]
    member_id: Mapped[int]
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))  # money given back
    # [{"line_id", "quantity"}]: the lines returned (empty for a return by amount).
    lines: Mapped[list[dict[str, int]]] = mapped_column(JSON, default=list)
    points: Mapped[int] = mapped_column(default=0)  # taken back
    points_not_recovered: Mapped[int] = mapped_column(default=0)  # due, but already spent
    entry_id: Mapped[int | None]
    actor_kind: Mapped[str] = mapped_column(String(12))
    actor_id: Mapped[int | None]
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class ReturnedItem:
    """Line items a return gives back, as a caller names them: the product code (or
    the group of a line without one) and how many (see `return_part`)."""

    quantity: int
    sku: str | None = None
    product_group: str | None = None


class NothingToReturn(Conflict):
    """A part returned of a purchase that has nothing (or not that much) left."""

    reason = "nothing_to_return"
    message = _l("This purchase has nothing left to return.")


class AmbiguousReference(Conflict):
    """Several purchases carry the reference a till named."""

    reason = "ambiguous_reference"
    message = _l("Several purchases carry this reference.")


class NoPointsByAmount(Conflict):
    """A bare amount (no line items) where the program has no equivalence and no rule
    gives points for it."""

    reason = "no_points_by_amount"
    message = _l("This program gives no points by purchase amount: give points instead.")


@dataclass(eq=False)
class WriteAlong:
    """A row of the caller's that the purchase's one statement writes too (PostgreSQL,
    a purchase without lines): the POS API's stored answer, which names the purchase.

    `values` are the row's columns (its tenant is the session's), and the statement
    fills in what only it knows, one of two ways:

    - `purchase_column` (SDK 1.5) gets the id of the purchase written: the caller
      renders whatever it needs from the purchase later;
    - `json_column` with `render` (1.4): `render(purchase, entries)` is called before
      the statement with stand-in ids; the JSON it returns goes into `json_column`, each
      stand-in replaced in SQL by the id written (a costlier statement: its body is
      assembled in SQL, docs/benchmarks.md).

    A row that meets a unique key already there is not written, nor is any when the
    purchase is a twin's; `written` then stays False and the caller writes its row
    itself."""

    table: Table
    values: dict[str, Any]
    json_column: str | None = None
    render: Callable[[Purchase, list[Entry]], Any] | None = None
    written: bool = field(default=False)
    purchase_column: str | None = None

    def __post_init__(self) -> None:
        if (self.purchase_column is None) == (self.json_column is None or self.render is None):
            raise TypeError("WriteAlong takes purchase_column, or json_column with render")


# --- services ------------------------------------------------------------


def record_purchase(
    session: Session,
    member: Membership,
    amount: Decimal | str | int,
    *,
    actor: Actor,
    items: list[Item] | None = None,
    location_id: int | None = None,
    reference: str | None = None,
    description: str | None = None,
    idempotency_key: str | None = None,
    confirmed_large: bool = False,
    along: WriteAlong | None = None,
) -> tuple[Purchase, list[Entry]]:
    """Record a purchase and credit the points every active rule gives for it.

    Returns the purchase and its entries (the program's points first). A retry
    with the same key, or the same reference when no key is given, returns the
    first purchase and writes nothing; with other details it raises
    IdempotencyMismatch. `confirmed_large` marks the entries as a large grant
    staff confirmed (see `program.is_large_grant`). `along`: a row of the caller's
    written by the same statement where the purchase is written in one (see
    `WriteAlong`; `along.written` says whether it was).
    """
    amount = parse_amount(amount, field="amount")
    items = [_check_item(item) for item in items or []]
    if len(items) > MAX_LINES:
        raise InvalidInput(items=_l("A purchase has at most 500 lines."))
    reference = _clean(reference, 120, "reference")
    program = get_program(session)
    description = kept_description(program, description)
    key = ledger.stored_key(idempotency_key) or (
        ledger.system_key("purchase-reference", reference) if reference else None
    )
    fingerprint = _fingerprint(member.id, amount, items, location_id, reference, description)

    # Locked first: a twin carrying the same key has committed by the time we hold it
    # (it is looked for below, or the one statement's insert finds it in its way).
    member = ledger.lock_member(session, member.id)

    base = points_for_amount(program, amount) if program.get("points_per_amount") else 0
    purchase = Purchase(
        member_id=member.id,
        amount=amount,
        location_id=location_id,
        reference=reference,
        description=description,
        actor_kind=actor.kind,
        actor_id=actor.id,
        idempotency_key=key,
        fingerprint=fingerprint,
        created_at=utcnow(),
        lines=[
            PurchaseLine(
                sku=i.sku,
                product_group=i.product_group,
                quantity=i.quantity,
                unit_price=i.unit_price,
            )
            for i in items
        ],
    )
    plugins = current_app.extensions["premia"].plugins
    extra = plugins.ask(
        session, "calculate_points", member=member, purchase=purchase, base_points=base
    )
    lines = [(Kind.EARN, base, None)] if base else []
    lines += [(line.kind, line.points, line.label) for line in extra if line.points]
    if not lines and not items and not program.get("points_per_amount"):
        # Nothing gives for a bare amount (line items may still punch cards): say so,
        # or the sale "succeeds" with 0 points and nobody notices.
        raise NoPointsByAmount()

    purchase.points = sum(points for _k, points, _l in lines)
    if lines and not items and session.get_bind().dialect.name == "postgresql":
        written = _write_in_one_statement(
            session,
            member,
            purchase,
            lines,
            program=program,
            location_id=location_id,
            reference=reference,
            description=description,
            confirmed_large=confirmed_large,
            along=along,
        )
        if written is None:  # a twin with this key committed first
            existing = _by_key(session, key, fingerprint)
            return existing, earned_entries(session, existing)
        plugins.ask(session, "purchase_recorded", member=member, purchase=purchase, entries=written)
        return purchase, written
    existing = _by_key(session, key, fingerprint)
    if existing is not None:
        return existing, earned_entries(session, existing)
    session.add(purchase)
    session.flush()
    entries = (
        ledger.credit_locked(
            session,
            member,
            lines,
            actor=actor,
            program=program,
            purchase_id=purchase.id,
            location_id=location_id,
            reference=reference,
            description=description,
            confirmed_large=confirmed_large,
        )
        if lines
        else []
    )
    plugins.ask(session, "purchase_recorded", member=member, purchase=purchase, entries=entries)
    return purchase, entries


def give_points(
    session: Session,
    member: Membership,
    points: int,
    *,
    actor: Actor,
    location_id: int | None = None,
    reference: str | None = None,
    description: str | None = None,
    idempotency_key: str | None = None,
    confirmed_large: bool = False,
) -> Entry:
    """Give points without a purchase, under the program's rules.

    An employee gives them only when the program lets them (`may_give_points`;
    PointsByAmountOnly otherwise). A POS token is not bound by that rule: the scope
    `points:write` on it is what an owner or admin allowed that till, as they allow
    themselves, and a POS giving points it works out itself keeps working. A retry
    with the same key returns the first entry (see `ledger.earn`); `confirmed_large`
    as in `record_purchase`."""
    program = get_program(session)
    if not may_give_points(program, employee=_is_employee(session, actor)):
        raise PointsByAmountOnly()
    return ledger.earn(
        session,
        member,
        points=points,
        actor=actor,
        location_id=location_id,
        reference=_clean(reference, 120, "reference"),
        description=kept_description(program, description),
        idempotency_key=idempotency_key,
        confirmed_large=confirmed_large,
    )


def return_purchase(
    session: Session, purchase: Purchase, *, actor: Actor, description: str | None = None
) -> Purchase:
    """Take a returned purchase's points back out, as far as the member still has them
    (what partial returns did not take back already).

    Returning twice changes nothing the second time."""
    return return_part(session, purchase, actor=actor, description=description)[0]


def return_part(
    session: Session,
    purchase: Purchase,
    *,
    actor: Actor,
    items: list[ReturnedItem] | None = None,
    amount: Decimal | str | int | None = None,
    description: str | None = None,
    idempotency_key: str | None = None,
) -> tuple[Purchase, PurchaseReturn | None]:
    """Return a purchase, whole or in part: some of its lines (`items`), or an `amount`
    of it; neither: all that is left.

    The points the purchase earned are taken back in proportion to the money returned
    (rounded down, until the last part takes the rest), as far as the member still has
    them. The part that returns what is left marks the purchase returned and calls the
    plugins' `purchase_returned` (punch cards, tiers, referrals undo theirs); an earlier
    part calls `purchase_partly_returned` with what came back. A retry with the same key
    returns the first return; with nothing named, a returned purchase returns itself and
    None (nothing is written twice). NothingToReturn when a part is asked of a purchase
    without that much left (or without such a line left)."""
    if items is not None and amount is not None:
        raise InvalidInput(amount=_l("Return either lines or an amount, not both."))
    member = ledger.lock_member(session, purchase.member_id)
    session.refresh(purchase, with_for_update=True)
    key = ledger.stored_key(idempotency_key)
    fingerprint = _fingerprint(purchase.id, items, amount, description)
    if key is not None:
        existing = session.scalar(
            select(PurchaseReturn).where(PurchaseReturn.idempotency_key == key)
        )
        if existing is not None:
            if existing.fingerprint != fingerprint:
                raise IdempotencyMismatch()
            return purchase, existing
    left = purchase.amount - purchase.returned_amount
    if purchase.status == Status.RETURNED or left <= 0:
        if items is None and amount is None:
            return purchase, None
        raise NothingToReturn()
    returned_lines: list[dict[str, int]] = []
    if items is not None:
        money, returned_lines = _take_lines(purchase, items)
        if money > left:
            raise NothingToReturn()
    elif amount is not None:
        money = parse_amount(amount, field="amount")
        if money > left:
            raise NothingToReturn(_l("This is more than is left to return of the purchase."))
    else:
        money = left
        returned_lines = [
            {"line_id": line.id, "quantity": line.quantity - line.returned_quantity}
            for line in purchase.lines
            if line.quantity > line.returned_quantity
        ]
        for line in purchase.lines:
            line.returned_quantity = line.quantity
    whole = money == left
    earlier = session.execute(
        select(
            func.coalesce(func.sum(PurchaseReturn.points + PurchaseReturn.points_not_recovered), 0)
        ).where(PurchaseReturn.purchase_id == purchase.id)
    ).scalar_one()
    returned_so_far = purchase.returned_amount + money
    due_so_far = (
        purchase.points
        if whole
        else int(
            (purchase.points * returned_so_far / purchase.amount).to_integral_value(ROUND_FLOOR)
        )
    )
    due = max(due_so_far - int(earlier), 0)
    take = min(due, member.balance)
    entry = None
    if take:
        entry = ledger.debit_locked(
            session,
            member,
            take,
            kind=Kind.RETURN,
            actor=actor,
            purchase_id=purchase.id,
            location_id=purchase.location_id,
            reference=purchase.reference,
            description=description,
        )
    part = PurchaseReturn(
        purchase_id=purchase.id,
        member_id=member.id,
        amount=money,
        lines=returned_lines,
        points=take,
        points_not_recovered=due - take,
        entry_id=entry.id if entry is not None else None,
        actor_kind=actor.kind,
        actor_id=actor.id,
        idempotency_key=key,
        fingerprint=fingerprint,
        created_at=utcnow(),
    )
    session.add(part)
    purchase.returned_amount = returned_so_far
    plugins = current_app.extensions["premia"].plugins
    if whole:
        purchase.status = Status.RETURNED
        purchase.returned_at = utcnow()
        session.flush()
        purchase.points_not_recovered = int(
            session.execute(
                select(func.sum(PurchaseReturn.points_not_recovered)).where(
                    PurchaseReturn.purchase_id == purchase.id
                )
            ).scalar_one()
        )
        session.flush()
        plugins.ask(session, "purchase_returned", member=member, purchase=purchase, entry=entry)
    else:
        session.flush()
        plugins.ask(
            session,
            "purchase_partly_returned",
            member=member,
            purchase=purchase,
            returned=part,
            entry=entry,
        )
    return purchase, part


def quote_purchase(
    session: Session,
    member: Membership | None,
    amount: Decimal | str | int,
    *,
    items: list[Item] | None = None,
    location_id: int | None = None,
) -> list[PointsLine]:
    """The points a purchase would earn, every active rule included, writing nothing:
    what a till shows before the customer pays. For someone who is no member (None),
    what a new member would earn. The lines are those `record_purchase` would write."""
    amount = parse_amount(amount, field="amount")
    items = [_check_item(item) for item in items or []]
    if len(items) > MAX_LINES:
        raise InvalidInput(items=_l("A purchase has at most 500 lines."))
    program = get_program(session)
    base = points_for_amount(program, amount) if program.get("points_per_amount") else 0
    # Never added to the session: the rules read it, nothing writes it.
    purchase = Purchase(
        member_id=member.id if member is not None else None,
        amount=amount,
        location_id=location_id,
        created_at=utcnow(),
        lines=[
            PurchaseLine(
                sku=i.sku,
                product_group=i.product_group,
                quantity=i.quantity,
                unit_price=i.unit_price,
            )
            for i in items
        ],
    )
    someone = member if member is not None else Membership(balance=0)
    plugins = current_app.extensions["premia"].plugins
    with session.no_autoflush:
        extra = plugins.ask(
            session, "calculate_points", member=someone, purchase=purchase, base_points=base
        )
    lines = [PointsLine(Kind.EARN, base)] if base else []
    lines += [line for line in extra if line.points]
    return lines


def get_purchase(session: Session, purchase_id: int) -> Purchase:
    """The purchase with this id (NotFound otherwise)."""
    purchase = session.get(Purchase, purchase_id) if isinstance(purchase_id, int) else None
    if purchase is None:
        raise NotFound(purchase=_l("There is no such purchase."))
    return purchase


def purchase_by_reference(session: Session, reference: str) -> Purchase:
    """The purchase a till names by its reference (the invoice number): NotFound for none,
    Conflict when several purchases carry it (recorded with different keys)."""
    found = session.scalars(
        select(Purchase).where(Purchase.reference == reference).order_by(Purchase.id).limit(2)
    ).all()
    if not found:
        raise NotFound(purchase=_l("There is no such purchase."))
    if len(found) > 1:
        raise AmbiguousReference()
    return found[0]


def purchases_of(session: Session, member: Membership, *, limit: int = 50) -> list[Purchase]:
    return list(
        session.scalars(
            select(Purchase)
            .where(Purchase.member_id == member.id)
            .order_by(Purchase.id.desc())
            .limit(limit)
        )
    )


def spend(session: Session, member_id: int, since: datetime, until: datetime) -> Decimal:
    """What a member spent in [since, until), returned purchases (and parts) excluded."""
    total = session.scalar(
        select(func.coalesce(func.sum(Purchase.amount - Purchase.returned_amount), 0)).where(
            Purchase.member_id == member_id,
            Purchase.status == Status.RECORDED,
            Purchase.created_at >= since,
            Purchase.created_at < until,
        )
    )
    return Decimal(total)


def spend_by_member(
    tenant_id: int, windows: dict[str, tuple[datetime, datetime | None]]
) -> Subquery:
    """What every member of a tenant spent in each named window [start, end) (end None:
    up to now), returned purchases excluded, for rules over all members at once (tiers'
    period end): a subquery of `member_id` and one column per window; a member with no
    purchase since the earliest start has no row. A Core statement filtered by
    `tenant_id` itself, to run on the session's connection."""
    p = Purchase.__table__
    columns = []
    for name, (start, end) in windows.items():
        within = (
            p.c.created_at >= start
            if end is None
            else and_(p.c.created_at >= start, p.c.created_at < end)
        )
        # Rounded to cents: SQLite sums NUMERIC as floating point.
        kept = p.c.amount - p.c.returned_amount
        columns.append(func.round(func.sum(case((within, kept), else_=0)), 2).label(name))
    return (
        select(p.c.member_id, *columns)
        .where(
            p.c.tenant_id == tenant_id,
            p.c.status == Status.RECORDED.value,
            p.c.created_at >= min(start for start, _end in windows.values()),
        )
        .group_by(p.c.member_id)
        .subquery("spend")
    )


def parse_amount(value: Any, *, field: str) -> Decimal:
    """A money amount > 0 with at most two decimals, from a Decimal, int or string."""
    if isinstance(value, (bool, float)):  # floats carry binary rounding errors
        raise InvalidInput(**{field: _l("Give the amount as a decimal number.")})
    try:
        amount = Decimal(value) if not isinstance(value, Decimal) else value
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidInput(**{field: _l("Give the amount as a decimal number.")}) from None
    if not amount.is_finite() or amount <= 0:
        raise InvalidInput(**{field: _l("The amount must be greater than zero.")})
    if amount > MAX_AMOUNT:
        raise InvalidInput(**{field: _l("This amount is too large.")})
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidInput(**{field: _l("An amount has at most two decimals.")})
    return amount.quantize(Decimal("0.01"))


# --- internals -----------------------------------------------------------


def _check_item(item: Item) -> Item:
    if not isinstance(item, Item):
        raise InvalidInput(items=_l("Each line needs a quantity and a unit price."))
    quantity = item.quantity
    if (
        isinstance(quantity, bool)
        or not isinstance(quantity, int)
        or not (0 < quantity <= MAX_QUANTITY)
    ):
        raise InvalidInput(items=_l("A line's quantity must be a whole number from 1 to 100,000."))
    unit_price = item.unit_price
    if not (
        isinstance(unit_price, Decimal)
        and unit_price.is_finite()
        and unit_price >= 0
        and unit_price <= MAX_AMOUNT
        and unit_price == unit_price.quantize(Decimal("0.01"))
    ):
        raise InvalidInput(
            items=_l("A line's unit price must be zero or more, with at most two decimals.")
        )
    if not (item.sku or item.product_group):
        raise InvalidInput(items=_l("A line needs a product code or a product group."))
    return Item(
        quantity=quantity,
        unit_price=unit_price.quantize(Decimal("0.01")),
        sku=_clean(item.sku, 64, "items"),
        product_group=_clean(item.product_group, 64, "items"),
    )


def _take_lines(
    purchase: Purchase, items: list[ReturnedItem]
) -> tuple[Decimal, list[dict[str, int]]]:
    """Mark the purchase's lines named by `items` returned: the money they come to and
    [{"line_id", "quantity"}]. A product code names the lines with it; a group, the lines
    of that group. InvalidInput for a line the purchase has not got that many of."""
    if not items or len(items) > MAX_LINES:
        raise InvalidInput(lines=_l("Name from 1 to 500 lines to return."))
    money = Decimal("0")
    taken: dict[int, int] = {}
    for item in items:
        quantity = item.quantity
        if (
            isinstance(quantity, bool)
            or not isinstance(quantity, int)
            or not (0 < quantity <= MAX_QUANTITY)
        ):
            raise InvalidInput(
                lines=_l("A line's quantity must be a whole number from 1 to 100,000.")
            )
        sku = _clean(item.sku, 64, "lines")
        group = _clean(item.product_group, 64, "lines")
        if not (sku or group):
            raise InvalidInput(lines=_l("A line needs a product code or a product group."))
        for line in purchase.lines:
            if quantity == 0:
                break
            if (sku is not None and line.sku != sku) or (
                sku is None and line.product_group != group
            ):
                continue
            n = min(quantity, line.quantity - line.returned_quantity)
            if n > 0:
                line.returned_quantity += n
                taken[line.id] = taken.get(line.id, 0) + n
                money += n * line.unit_price
                quantity -= n
        if quantity:
            raise NothingToReturn(_l("The purchase has no more of this line to return."))
    return money, [{"line_id": line_id, "quantity": n} for line_id, n in taken.items()]


def _is_employee(session: Session, actor: Actor) -> bool:
    """Whether the actor is a staff member in the employee role (an unknown one counts
    as an employee: the narrower rights)."""
    if actor.kind != "staff":
        return False
    role = session.scalar(select(StaffUser.role).where(StaffUser.id == actor.id))
    return role is None or role == Role.EMPLOYEE


def _clean(value: str | None, length: int, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(**{field: _l("This must be text.")})
    value = value.strip()
    if len(value) > length:
        raise InvalidInput(**{field: _l("This text is too long.")})
    return value or None


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


# The purchase, its entries, the balance and the lots in one statement (PostgreSQL):
# the member is locked already (`ledger.lock_member`), so the balance moves by the
# total and each entry's balance_after is the one before plus the entries up to it,
# as `ledger.credit_locked` writes them one by one. A purchase whose key a twin
# committed first inserts nothing, and nothing else is written either.
_PURCHASE_AND_BALANCE = """
WITH p AS (
    INSERT INTO purchases (tenant_id, member_id, amount, status, location_id, reference,
        description, actor_kind, actor_id, idempotency_key, fingerprint, points, created_at)
    VALUES (:tenant_id, :member_id, :amount, :status, :location_id, :reference,
        :description, :actor_kind, :actor_id, :idempotency_key, :fingerprint, :total, :now)
    ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
    RETURNING id
), m AS (
    UPDATE memberships SET balance = balance + :total
    WHERE tenant_id = :tenant_id AND id = :member_id AND EXISTS (SELECT FROM p)
    RETURNING balance
)"""
# Many entries: numbered from the arrays, each balance_after the running sum.
_ENTRIES = """, line AS (
    SELECT l.n, l.kind, l.points, l.label, sum(l.points) OVER (ORDER BY l.n) AS running
    FROM unnest(CAST(:kinds AS varchar[]), CAST(:points AS integer[]),
        CAST(:labels AS varchar[])) WITH ORDINALITY AS l(kind, points, label, n)
), e AS (
    INSERT INTO ledger_entries (tenant_id, member_id, kind, points, balance_after,
        actor_kind, actor_id, location_id, description, reference, purchase_id, label,
        confirmed_large, created_at)
    SELECT :tenant_id, :member_id, line.kind, line.points, m.balance - :total + line.running,
        CAST(:actor_kind AS varchar), CAST(:actor_id AS integer),
        CAST(:location_id AS integer), CAST(:description AS text),
        CAST(:reference AS varchar), p.id, line.label, CAST(:confirmed_large AS boolean),
        CAST(:now AS timestamptz)
    FROM p, m, line ORDER BY line.n
    RETURNING id, points, balance_after
)"""
# One entry, the usual earn: no arrays, no window. PostgreSQL readies every node of a
# statement at each run (`ExecutorStart`, 16 % of its time under the earn's load):
# the smaller statement ran +7.5 % (median; 6 rounds alternated, 2 slower) under pgbench.
_ONE_ENTRY = """, e AS (
    INSERT INTO ledger_entries (tenant_id, member_id, kind, points, balance_after,
        actor_kind, actor_id, location_id, description, reference, purchase_id, label,
        confirmed_large, created_at)
    SELECT :tenant_id, :member_id, CAST(:kind AS varchar), CAST(:entry_points AS integer),
        m.balance - :total + CAST(:entry_points AS integer),
        CAST(:actor_kind AS varchar), CAST(:actor_id AS integer),
        CAST(:location_id AS integer), CAST(:description AS text),
        CAST(:reference AS varchar), p.id, CAST(:label AS varchar),
        CAST(:confirmed_large AS boolean), CAST(:now AS timestamptz)
    FROM p, m
    RETURNING id, points, balance_after
)"""
_LOTS = """, lots AS (
    INSERT INTO ledger_lots (tenant_id, member_id, entry_id, points, remaining, expires_at,
        created_at)
    SELECT :tenant_id, :member_id, e.id, e.points, e.points,
        CAST(:expires_at AS timestamptz), CAST(:now AS timestamptz)
    FROM e
)"""


def _writes(one_entry: bool) -> str:
    return _PURCHASE_AND_BALANCE + (_ONE_ENTRY if one_entry else _ENTRIES) + _LOTS


_PLAIN = "\nSELECT p.id, e.id, e.balance_after, 0 FROM p, e ORDER BY e.id"
_ONE_STATEMENT = {one: text(_writes(one) + _PLAIN) for one in (True, False)}

# A caller's row written along (`WriteAlong`). By `purchase_column`: the purchase's id
# in it. By `json_column`: its JSON is the text the caller rendered cut at each
# stand-in id (`along_parts`), each cut followed by the id of its slot (`along_slots`:
# 1 the purchase, 2… the entries in order; NULL after the last part). The final SELECT
# says whether the row was written (a unique key met: not).
_ALONG_BY_PURCHASE = """, along_row AS (
    INSERT INTO {table} (tenant_id, {columns}, {purchase_column})
    SELECT :tenant_id, {values}, p.id FROM p
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT p.id, e.id, e.balance_after, (SELECT count(*) FROM along_row) FROM p, e ORDER BY e.id"""
_ALONG = """, ids AS (
    SELECT array_prepend(p.id, ARRAY(SELECT e.id FROM e ORDER BY e.id)) AS a FROM p
), along_row AS (
    INSERT INTO {table} (tenant_id, {columns}, {json_column})
    SELECT :tenant_id, {values}, CAST((
        SELECT string_agg(c.part || coalesce(CAST(ids.a[c.slot] AS text), ''), '' ORDER BY c.n)
        FROM unnest(CAST(:along_parts AS text[]), CAST(:along_slots AS integer[]))
            WITH ORDINALITY AS c(part, slot, n)
    ) AS {json_type})
    FROM ids
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT p.id, e.id, e.balance_after, (SELECT count(*) FROM along_row) FROM p, e ORDER BY e.id"""

# Built once per (table, columns, the column the statement fills in, one entry or many)
# a caller writes along.
_along_statements: dict[tuple[str, tuple[str, ...], str, bool], Any] = {}


def _statement_along(along: WriteAlong, one_entry: bool) -> Any:
    columns = tuple(along.values)
    filled = along.purchase_column or along.json_column
    key = (along.table.name, columns, filled, one_entry)
    statement = _along_statements.get(key)
    if statement is None:
        dialect = postgresql.dialect()
        values = ", ".join(
            f"CAST(:along_{name} AS {along.table.c[name].type.compile(dialect)})"
            for name in columns
        )
        if along.purchase_column is not None:
            sql = _ALONG_BY_PURCHASE.format(
                table=along.table.name,
                columns=", ".join(columns),
                purchase_column=along.purchase_column,
                values=values,
            )
        else:
            json_type = along.table.c[along.json_column].type
            sql = _ALONG.format(
                table=along.table.name,
                columns=", ".join(columns),
                json_column=along.json_column,
                values=values,
                json_type="jsonb" if json_type.__class__.__name__ == "JSONB" else "json",
            )
        statement = _along_statements[key] = text(_writes(one_entry) + sql)
    return statement


def _along_parts(
    along: WriteAlong, purchase: Purchase, entries: list[Entry]
) -> tuple[list[str], list[int | None]]:
    """The caller's JSON rendered with stand-in ids, cut at each: (parts, slots).

    The stand-ins are drawn at random per statement, so no text a customer typed (a
    description) can pass for one."""
    mark = secrets.randbelow(9 * 10**14) + 10**14  # 15 digits, then 3 of the slot
    stand_ins = [purchase, *entries]
    for slot, row in enumerate(stand_ins, 1):
        row.id = -(mark * 1000 + slot)
    try:
        rendered = json.dumps(along.render(purchase, entries), ensure_ascii=False)
    finally:
        for row in stand_ins:
            row.id = None
    # Cut with str.split, not a regular expression: a pattern per statement would be
    # compiled at every earn.
    first, *rest = rendered.split(f"-{mark}")
    parts = [first] + [piece[3:] for piece in rest]
    slots: list[int | None] = [int(piece[:3]) for piece in rest] + [None]
    return parts, slots


def _write_in_one_statement(
    session: Session,
    member: Membership,
    purchase: Purchase,
    lines: list[tuple[str, int, str | None]],
    *,
    program: dict[str, Any],
    location_id: int | None,
    reference: str | None,
    description: str | None,
    confirmed_large: bool,
    along: WriteAlong | None = None,
) -> list[Entry] | None:
    """Write a purchase and credit its lines to the locked `member` in one round trip,
    with the caller's row `along` if any; the purchase and the entries become the
    session's objects, as a flush leaves them. None where a twin carrying the
    purchase's key was there first (nothing written)."""
    ledger.check_credit(member, lines)
    tenant_id = session_tenant_id(session)
    now = purchase.created_at
    purchase.tenant_id = tenant_id
    purchase.status = Status.RECORDED
    purchase.points_not_recovered = None
    purchase.returned_at = None
    purchase.returned_amount = Decimal("0")
    # The entries as the statement writes them, ids apart (the member is locked: its
    # balance is the one the statement adds to).
    entries = []
    balance = member.balance
    for kind, points, label in lines:
        balance += points
        entries.append(
            Entry(
                tenant_id=tenant_id,
                member_id=member.id,
                kind=kind,
                points=points,
                balance_after=balance,
                actor_kind=purchase.actor_kind,
                actor_id=purchase.actor_id,
                location_id=location_id,
                description=description,
                reference=reference,
                idempotency_key=None,
                fingerprint=None,
                reverses_id=None,
                purchase_id=None,
                label=label,
                confirmed_large=confirmed_large,
                created_at=now,
            )
        )
    params = {
        "tenant_id": tenant_id,
        "member_id": member.id,
        "amount": purchase.amount,
        "status": Status.RECORDED.value,
        "location_id": location_id,
        "reference": reference,
        "description": description,
        "actor_kind": purchase.actor_kind,
        "actor_id": purchase.actor_id,
        "idempotency_key": purchase.idempotency_key,
        "fingerprint": purchase.fingerprint,
        "total": purchase.points,
        "now": now,
        "confirmed_large": confirmed_large,
        "expires_at": expiry_for(program, now),
    }
    one_entry = len(lines) == 1
    if one_entry:
        ((kind, points, label),) = lines
        params.update(kind=str(kind), entry_points=points, label=label)
    else:
        params["kinds"] = [str(kind) for kind, _p, _l in lines]
        params["points"] = [points for _k, points, _l in lines]
        params["labels"] = [label for _k, _p, label in lines]
    statement = _ONE_STATEMENT[one_entry]
    if along is not None:
        statement = _statement_along(along, one_entry)
        if along.purchase_column is None:
            params["along_parts"], params["along_slots"] = _along_parts(along, purchase, entries)
        params.update({f"along_{name}": value for name, value in along.values.items()})
    # Through the driver: SQLAlchemy would describe the rows again at every earn.
    rows = driver.rows(session.connection(), statement, params)
    if not rows:
        return None
    purchase.id = rows[0][0]
    _now_persistent(session, purchase)
    for entry, (_purchase_id, entry_id, balance_after, _along) in zip(entries, rows, strict=True):
        if balance_after != entry.balance_after:  # the lock was not held: write nothing
            raise RuntimeError(f"member {member.id} changed under its lock")
        entry.id = entry_id
        entry.purchase_id = purchase.id
        _now_persistent(session, entry)
    if along is not None:
        along.written = bool(rows[0][3])
    set_committed_value(member, "balance", entries[-1].balance_after)
    for entry in entries:
        announce(session, "entry_recorded", entry=entry, member=member)
    return entries


def _now_persistent(session: Session, row: Any) -> None:
    """A row written by a Core statement, handed to the session as if it had flushed it."""
    make_transient_to_detached(row)
    session.add(row)


# Built once: every purchase looks for an earlier one with its key.
_BY_KEY = select(Purchase).where(Purchase.idempotency_key == bindparam("key"))


def _by_key(session: Session, key: str | None, fingerprint: str) -> Purchase | None:
    if key is None:
        return None
    purchase = session.scalar(_BY_KEY, {"key": key})
    if purchase is not None and purchase.fingerprint != fingerprint:
        raise IdempotencyMismatch()
    return purchase


def earned_entries(session: Session, purchase: Purchase) -> list[Entry]:
    """The entries a purchase credited when recorded, in the order written (what
    `record_purchase` returned for it)."""
    return list(
        session.scalars(
            select(Entry)
            .where(Entry.purchase_id == purchase.id, Entry.points > 0)
            .order_by(Entry.id)
        )
    )
