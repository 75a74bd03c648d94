"""Sold packs and each use of them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.sdk import Base, TenantOwned, tenant_fk, tenant_key, utcnow


class Pack(TenantOwned, Base):
    """A pack sold to a member, with the uses still left."""

    __tablename__ = "packs_packs"
    __table_args__ = (
        tenant_key(),
        tenant_fk("member_id", "memberships"),
        tenant_fk("location_id", "locations"),
        tenant_fk("purchase_id", "purchases"),
        UniqueConstraint("tenant_id", "idempotency_key"),
        CheckConstraint("uses > 0", name="uses_positive"),
        # The last line of defence: a use never takes a pack below zero.
        CheckConstraint("uses_left >= 0 AND uses_left <= uses", name="uses_left_within_uses"),
        Index("ix_packs_packs_member_id", "member_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int]
    type_key: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(120))  # as the type was named when sold
    uses: Mapped[int]
    uses_left: Mapped[int]
    price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    expires_at: Mapped[datetime | None]  # None: never
    sold_by_kind: Mapped[str] = mapped_column(String(12))
    sold_by_id: Mapped[int | None]
    location_id: Mapped[int | None]
    purchase_id: Mapped[int | None]  # the sale at the till, when linked
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    sold_at: Mapped[datetime] = mapped_column(default=utcnow)


class PackUse(TenantOwned, Base):
    """One use of a pack: who recorded it, where, when, and what was left."""

    __tablename__ = "packs_uses"
    __table_args__ = (
        tenant_fk("pack_id", "packs_packs"),
        tenant_fk("member_id", "memberships"),
        tenant_fk("location_id", "locations"),
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_packs_uses_pack_id", "pack_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pack_id: Mapped[int]
    member_id: Mapped[int]
    actor_kind: Mapped[str] = mapped_column(String(12))
    actor_id: Mapped[int | None]
    location_id: Mapped[int | None]
    uses_left: Mapped[int]  # after this use
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    used_at: Mapped[datetime] = mapped_column(default=utcnow)
