"""A brand's look as its managers set it in Configuración → Marca (one row per merchant),
with the stylesheet compiled from it when it was saved."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.sdk import Base, TenantOwned, utcnow


class Brand(TenantOwned, Base):
    __tablename__ = "theme_brands"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    primary: Mapped[str | None] = mapped_column(String(7))  # "#rrggbb"
    accent: Mapped[str | None] = mapped_column(String(7))
    font: Mapped[str | None] = mapped_column(String(40))  # a key of fonts.FONTS
    icon: Mapped[str | None] = mapped_column(String(500))  # an upload's name
    sender_name: Mapped[str | None] = mapped_column(String(120))
    reply_to: Mapped[str | None] = mapped_column(String(254))
    footer: Mapped[str | None] = mapped_column(Text)  # a sandboxed template (footer.py)
    terms_url: Mapped[str | None] = mapped_column(String(500))
    privacy_url: Mapped[str | None] = mapped_column(String(500))
    stylesheet: Mapped[str] = mapped_column(Text, default="")
    stylesheet_hash: Mapped[str] = mapped_column(String(16), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
