"""Locations (locales): a merchant's physical stores."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db import Base, TenantOwned, tenant_key


class Location(TenantOwned, Base):
    __tablename__ = "locations"
    __table_args__ = (tenant_key(),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(160))
    address: Mapped[str | None] = mapped_column(String(300))
    city: Mapped[str | None] = mapped_column(String(120), index=True)
    active: Mapped[bool] = mapped_column(default=True)


def create_location(
    session: Session, *, name: str, address: str | None = None, city: str | None = None
) -> Location:
    location = Location(name=name.strip(), address=address, city=city)
    session.add(location)
    session.flush()
    return location
