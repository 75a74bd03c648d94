"""The tiers plugin's tables: each member's tier, its history, and the period runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.sdk import Base, TenantOwned, tenant_fk, utcnow


class TierMember(TenantOwned, Base):
    """A member's tier. `tier` is the one they hold now; `kept` is the floor the
    downgrade policy guarantees until the next period end (set by `reevaluate`).
    A member without a row (never bought since the plugin is on) holds the tier
    their spend of the current period reaches."""

    __tablename__ = "tiers_members"
    __table_args__ = (
        UniqueConstraint("tenant_id", "member_id"),
        tenant_fk("member_id", "memberships"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int]
    tier: Mapped[str | None] = mapped_column(String(30))  # a code of the settings' tiers
    kept: Mapped[str | None] = mapped_column(String(30))
    previous: Mapped[str | None] = mapped_column(String(30))
    since: Mapped[datetime] = mapped_column(default=utcnow)
    evaluated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TierChange(TenantOwned, Base):
    """A member moved from one tier to another: the event the panel lists."""

    __tablename__ = "tiers_changes"
    __table_args__ = (
        tenant_fk("member_id", "memberships"),
        tenant_fk("purchase_id", "purchases"),
        Index("ix_tiers_changes_member_id_id", "member_id", "id"),
        Index("ix_tiers_changes_run", "tenant_id", "run"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int]
    from_tier: Mapped[str | None] = mapped_column(String(30))
    to_tier: Mapped[str | None] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(String(12))  # purchase, return, period_end
    purchase_id: Mapped[int | None]
    run: Mapped[str | None] = mapped_column(String(40))  # the period run that made it
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class TierRun(TenantOwned, Base):
    """A period end processed for a tenant, once ("M2026-03" or "D2026-03-15")."""

    __tablename__ = "tiers_runs"
    __table_args__ = (UniqueConstraint("tenant_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(12))
    as_of: Mapped[datetime]
    changed: Mapped[int]
    ran_at: Mapped[datetime] = mapped_column(default=utcnow)
