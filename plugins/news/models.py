"""A merchant's news items (offers, promotions) for the customer app."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.sdk import Base, TenantOwned, tenant_key, utcnow


class NewsItem(TenantOwned, Base):
    __tablename__ = "news_items"
    __table_args__ = (
        tenant_key(),
        CheckConstraint(
            "ends_on IS NULL OR starts_on IS NULL OR ends_on >= starts_on", name="dates_in_order"
        ),
        Index("ix_news_items_tenant_id_active", "tenant_id", "active"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(160))
    body: Mapped[str | None] = mapped_column(Text)
    image: Mapped[str | None] = mapped_column(String(500))
    starts_on: Mapped[date | None]  # the tenant's local dates, both included; None: open
    ends_on: Mapped[date | None]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
