"""A satisfaction survey sent to a member after a visit (points earned or a reward
redeemed), and their answer: a score from 0 to 10 and an optional comment."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.sdk import Base, TenantOwned, tenant_fk, tenant_key, utcnow


class Survey(TenantOwned, Base):
    __tablename__ = "nps_surveys"
    __table_args__ = (
        tenant_key(),
        tenant_fk("member_id", "memberships"),
        tenant_fk("location_id", "locations"),
        # One survey per visit: a retried e-mail job finds the survey it made.
        UniqueConstraint("tenant_id", "event", "source_id"),
        CheckConstraint("score IS NULL OR score BETWEEN 0 AND 10", name="score_in_range"),
        Index("ix_nps_surveys_member_id_created_at", "member_id", "created_at"),
        Index("ix_nps_surveys_tenant_id_answered_at", "tenant_id", "answered_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int]
    event: Mapped[str] = mapped_column(String(12))  # "earn" or "redemption"
    source_id: Mapped[int]  # the ledger entry or the redemption that prompted it
    staff_id: Mapped[int | None]  # the employee of that visit (no foreign key: staff leave)
    location_id: Mapped[int | None]
    bonus: Mapped[int]  # the points promised in the e-mail (0: none)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    score: Mapped[int | None]
    comment: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None]
    bonus_entry_id: Mapped[int | None]
