"""Ledger entries, lots and allocations: what the ledger stores."""

from __future__ import annotations

import enum
from datetime import datetime

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    CheckConstraint,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.host.db import Base, TenantOwned, tenant_fk, tenant_key, tenant_unique_where_set, utcnow
from core.loyalty.members import Membership


class Kind(enum.StrEnum):
    """The core's entry kinds. Plugins add their own (referral, survey, coupon, …)."""

    EARN = "earn"
    WELCOME = "welcome"
    ADJUST = "adjust"
    REDEEM = "redeem"
    REFUND = "refund"
    EXPIRE = "expire"
    RETURN = "return"


KIND_LABELS = {
    Kind.EARN: _l("Points earned"),
    Kind.WELCOME: _l("Welcome points"),
    Kind.ADJUST: _l("Adjustment"),
    Kind.REDEEM: _l("Redemption"),
    Kind.REFUND: _l("Refund"),
    Kind.EXPIRE: _l("Points expired"),
    Kind.RETURN: _l("Purchase returned"),
}


def kind_label(kind: str, label: str | None = None) -> str:
    """What an entry is, in the user's language: its own label (a rule's name, such as
    "Black Friday 5%"), else its kind's: the core's, or the one the plugin that writes
    that kind declares (`PluginInfo.entry_kinds`); an unknown kind shows as its name."""
    if label:
        return label
    known = KIND_LABELS.get(kind)
    if known is None and has_app_context():
        known = current_app.extensions["premia"].plugins.entry_kinds.get(kind)
    return str(known) if known is not None else kind.replace("_", " ")


class Entry(TenantOwned, Base):
    """One change to a member's balance (append-only): kind, points, the balance after, who, where,
    why."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        tenant_key(),
        # The tenant through the member (see `tenant_id` below): a tenant's deletion,
        # cascading to its members, reaches their entries.
        tenant_fk("member_id", "memberships", ondelete="CASCADE"),
        tenant_fk("location_id", "locations"),
        tenant_fk("reverses_id", "ledger_entries"),
        tenant_fk("purchase_id", "purchases"),
        # Unique where set (core_0021): most entries have neither, and an index entry
        # for a NULL is written on every row for nothing.
        tenant_unique_where_set("ledger_entries", "reverses_id"),
        tenant_unique_where_set("ledger_entries", "idempotency_key"),
        CheckConstraint("points <> 0", name="points_not_zero"),
        CheckConstraint("balance_after >= 0", name="balance_after_not_negative"),
        Index("ix_ledger_entries_member_id_id", "member_id", "id"),
        Index("ix_ledger_entries_tenant_id_created_at", "tenant_id", "created_at"),
        Index("ix_ledger_entries_purchase_id", "purchase_id"),
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
    purchase_id: Mapped[int | None]  # the purchase that earned (or returned) these points
    label: Mapped[str | None] = mapped_column(String(120))  # the rule, shown to the customer
    # Staff confirmed it as a large grant (above the program's large_grant_points).
    confirmed_large: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # No key of its own to `tenants` (core_0020): (tenant_id, member_id) references the
    # member, whose tenant_id references the tenant, so it is implied; each key checked
    # is a lookup and a KEY SHARE lock per row written (bench/ledger_writes.py).
    tenant_id: Mapped[int] = mapped_column(index=True)

    member: Mapped[Membership] = relationship(lazy="raise", viewonly=True)


class Lot(TenantOwned, Base):
    """Points earned together, with what is still unused and when it expires."""

    __tablename__ = "ledger_lots"
    __table_args__ = (
        tenant_key(),
        tenant_fk("member_id", "memberships", ondelete="CASCADE"),  # as the entries'
        tenant_fk("entry_id", "ledger_entries"),
        UniqueConstraint("tenant_id", "entry_id"),
        CheckConstraint("remaining >= 0", name="remaining_not_negative"),
        CheckConstraint("remaining <= points", name="remaining_within_points"),
        Index("ix_ledger_lots_member_id_expires_at", "member_id", "expires_at"),
        Index(
            "ix_ledger_lots_due",
            "tenant_id",
            "expires_at",
            # Lots that never expire are never due (core_0021): not indexed.
            postgresql_where=text("remaining > 0 AND expires_at IS NOT NULL"),
            sqlite_where=text("remaining > 0 AND expires_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int]
    entry_id: Mapped[int]
    points: Mapped[int]
    remaining: Mapped[int]
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The tenant through the member, as the entries' (core_0020).
    tenant_id: Mapped[int] = mapped_column(index=True)


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
