"""Punch-card progress per member and card, the punches each purchase gave, and prizes."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.sdk import Base, TenantOwned, tenant_fk, tenant_key, utcnow


class PrizeStatus(enum.StrEnum):
    ISSUED = "issued"  # waiting to be handed over
    CLAIMED = "claimed"  # handed over by staff
    CANCELLED = "cancelled"  # the purchase that completed the card was returned


class Counter(TenantOwned, Base):
    """A member's current card: how many punches towards the next prize."""

    __tablename__ = "punchcards_counters"
    __table_args__ = (
        UniqueConstraint("tenant_id", "member_id", "card"),
        tenant_fk("member_id", "memberships"),
        CheckConstraint("progress >= 0", name="progress_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int]
    card: Mapped[str] = mapped_column(String(40))  # the card's key in the settings
    progress: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Punch(TenantOwned, Base):
    """The punches one purchase gave one card (taken back if it is returned)."""

    __tablename__ = "punchcards_punches"
    __table_args__ = (
        UniqueConstraint("tenant_id", "purchase_id", "card"),
        tenant_fk("purchase_id", "purchases"),
        tenant_fk("member_id", "memberships"),
        CheckConstraint("punches > 0", name="punches_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    purchase_id: Mapped[int]
    member_id: Mapped[int]
    card: Mapped[str] = mapped_column(String(40))
    punches: Mapped[int]
    prizes: Mapped[int] = mapped_column(default=0)  # cards this purchase completed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    returned_at: Mapped[datetime | None]
    # On return: punches that could not be taken back because prizes were already claimed.
    punches_not_recovered: Mapped[int | None]


class Prize(TenantOwned, Base):
    """A full card's gift, for the member to collect."""

    __tablename__ = "punchcards_prizes"
    __table_args__ = (
        tenant_key(),
        tenant_fk("member_id", "memberships"),
        tenant_fk("purchase_id", "purchases"),
        tenant_fk("location_id", "locations"),
        Index("ix_punchcards_prizes_member_id_status", "member_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int]
    card: Mapped[str] = mapped_column(String(40))
    card_name: Mapped[str] = mapped_column(String(120))  # as named when issued
    name: Mapped[str] = mapped_column(String(160))  # the prize, "Una tostada"
    size: Mapped[int]  # punches the card needed
    status: Mapped[str] = mapped_column(String(10), default=PrizeStatus.ISSUED)
    purchase_id: Mapped[int]  # the purchase that completed the card
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]  # claimed or cancelled
    claimed_by_kind: Mapped[str | None] = mapped_column(String(12))
    claimed_by_id: Mapped[int | None]
    location_id: Mapped[int | None]  # where it was handed over
