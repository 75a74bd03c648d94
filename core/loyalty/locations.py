"""Locations (locales): a merchant's physical stores."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.host.db import Base, TenantOwned, tenant_key
from core.host.errors import InvalidInput

LIMITS = {"name": 160, "address": 300, "city": 120}


class Location(TenantOwned, Base):
    """One of a merchant's stores."""

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
    values = _clean({"name": name, "address": address, "city": city})
    location = Location(**values)
    session.add(location)
    session.flush()
    return location


def update_location(session: Session, location: Location, **changes: object) -> Location:
    """Change a store's name, address, city or active flag (an inactive store is no
    longer offered for new staff or operations; its history stays)."""
    unknown = set(changes) - {*LIMITS, "active"}
    if unknown:
        raise InvalidInput(**{name: _l("Unknown field.") for name in unknown})
    values = _clean({k: v for k, v in changes.items() if k != "active"})
    if "active" in changes:
        values["active"] = bool(changes["active"])
    for name, value in values.items():
        setattr(location, name, value)
    session.flush()
    return location


def active_locations(session: Session) -> list[Location]:
    return list(
        session.scalars(select(Location).where(Location.active.is_(True)).order_by(Location.name))
    )


def _clean(values: dict[str, object]) -> dict[str, str | None]:
    cleaned: dict[str, str | None] = {}
    errors = {}
    for name, value in values.items():
        text = str(value or "").strip()
        if len(text) > LIMITS[name]:
            errors[name] = _l("At most %(n)d characters.", n=LIMITS[name])
        cleaned[name] = text or None
    if "name" in values and not cleaned["name"]:
        errors["name"] = _l("The name is required.")
    if errors:
        raise InvalidInput(**errors)
    return cleaned
