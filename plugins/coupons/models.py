"""A merchant's coupons: campaigns worth points, their codes, and who claimed them.

A campaign hands out either single-use codes (N generated or uploaded codes, each
claimable once) or one shared code (claimable once per customer, up to `stock`
claims in all). `claimed` counts the campaign's claims; a claim raises it with one
conditional UPDATE, so the stock holds under concurrency.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.sdk import Base, TenantOwned, tenant_fk, tenant_key, utcnow


class Kind(enum.StrEnum):
    SINGLE = "single"  # each code claimable once
    SHARED = "shared"  # one code, once per customer, up to the stock


class Campaign(TenantOwned, Base):
    __tablename__ = "coupons_campaigns"
    __table_args__ = (
        tenant_key(),
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint("stock IS NULL OR claimed <= stock", name="within_stock"),
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="dates_in_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    points: Mapped[int]
    starts_on: Mapped[date] = mapped_column(Date)  # local dates of the merchant
    ends_on: Mapped[date | None] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(8), default=Kind.SINGLE)
    stock: Mapped[int | None]  # shared code: most claims in all (None: no limit)
    claimed: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Code(TenantOwned, Base):
    __tablename__ = "coupons_codes"
    __table_args__ = (
        tenant_key(),
        tenant_fk("campaign_id", "coupons_campaigns"),
        tenant_fk("claimed_by", "memberships"),
        UniqueConstraint("tenant_id", "code"),
        Index("ix_coupons_codes_campaign_id_created_at", "campaign_id", "created_at"),
        CheckConstraint("points IS NULL OR points > 0", name="points_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int]
    code: Mapped[str] = mapped_column(String(24))  # as stored: upper case, no separators
    points: Mapped[int | None]  # overrides the campaign's (from an uploaded CSV)
    expires_on: Mapped[date | None] = mapped_column(Date)  # overrides the campaign's end
    active: Mapped[bool] = mapped_column(default=True)
    claimed_by: Mapped[int | None]  # single-use: the member who claimed it
    claimed_at: Mapped[datetime | None]
    # The uploaded file it came from (its token): the same file run again finds its own.
    upload: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Claim(TenantOwned, Base):
    """A customer's claim of a code: one per code and member, with the entry it wrote."""

    __tablename__ = "coupons_claims"
    __table_args__ = (
        tenant_key(),
        tenant_fk("code_id", "coupons_codes"),
        tenant_fk("campaign_id", "coupons_campaigns"),
        tenant_fk("member_id", "memberships"),
        tenant_fk("entry_id", "ledger_entries"),
        UniqueConstraint("tenant_id", "code_id", "member_id"),
        Index("ix_coupons_claims_campaign_id_created_at", "campaign_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code_id: Mapped[int]
    campaign_id: Mapped[int]
    member_id: Mapped[int]
    entry_id: Mapped[int]
    points: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
