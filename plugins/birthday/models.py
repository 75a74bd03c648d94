"""The local days the birthday job has processed, one row per tenant and day."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.sdk import Base, TenantOwned, utcnow


class BirthdayRun(TenantOwned, Base):
    __tablename__ = "birthday_runs"
    __table_args__ = (UniqueConstraint("tenant_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date]  # the tenant's local date
    granted: Mapped[int]  # members given points that day (0 when switched off in settings)
    ran_at: Mapped[datetime] = mapped_column(default=utcnow)
