"""One greeting per member (the tenant's own rows)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.sdk import Base, TenantOwned, utcnow


class Greeting(TenantOwned, Base):
    __tablename__ = "greeting_greetings"
    __table_args__ = (UniqueConstraint("tenant_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
