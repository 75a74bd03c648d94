"""A merchant's invitations: each member's invite code, and who brought whom."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.sdk import Base, TenantOwned, UTCDateTime, tenant_fk, tenant_key, utcnow


class Status(enum.StrEnum):
    PENDING = "pending"  # the friend joined; the paying event has not come yet
    PAID = "paid"
    REFUSED = "refused"  # never paid: see `reason`
    REVERSED = "reversed"  # paid, then the paying purchase was returned


class Reason(enum.StrEnum):
    SELF = "self"  # the friend's e-mail is the referrer's own
    CAP = "cap"  # the referrer had reached the month's cap


class InviteCode(TenantOwned, Base):
    """A member's personal invite code at this merchant (drawn at the first look)."""

    __tablename__ = "referrals_codes"
    __table_args__ = (
        tenant_key(),
        tenant_fk("member_id", "memberships"),
        UniqueConstraint("tenant_id", "member_id"),
        UniqueConstraint("tenant_id", "code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int]
    code: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Referral(TenantOwned, Base):
    """A friend who joined from a member's invite link: one per friend and merchant."""

    __tablename__ = "referrals_referrals"
    __table_args__ = (
        tenant_key(),
        tenant_fk("referrer_id", "memberships"),
        tenant_fk("friend_id", "memberships"),
        tenant_fk("purchase_id", "purchases"),
        UniqueConstraint("tenant_id", "friend_id"),
        CheckConstraint("referrer_id <> friend_id", name="not_self"),
        Index("ix_referrals_referrals_tenant_id_referrer_id", "tenant_id", "referrer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    referrer_id: Mapped[int]
    friend_id: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default=Status.PENDING)
    reason: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The purchase that paid (None when plain points paid), for a return to undo it.
    purchase_id: Mapped[int | None]
    referrer_points: Mapped[int] = mapped_column(default=0)
    friend_points: Mapped[int] = mapped_column(default=0)
