"""What the notifications plugin has sent, so a retried job never sends twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.sdk import Base, TenantOwned, utcnow


class Delivery(TenantOwned, Base):
    __tablename__ = "notifications_deliveries"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))  # e.g. "points_received:entry:42"
    recipient: Mapped[str] = mapped_column(String(254))
    template: Mapped[str] = mapped_column(String(60))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
