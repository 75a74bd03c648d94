"""News services: write items, and the ones a customer sees today."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.sdk import InvalidInput
from plugins.news.models import NewsItem

FIELDS = {"title", "body", "image", "starts_on", "ends_on", "active"}


def create_news(session: Session, **values: Any) -> NewsItem:
    item = NewsItem(active=True)
    _apply(item, values, creating=True)
    session.add(item)
    session.flush()
    return item


def update_news(session: Session, item: NewsItem, **changes: Any) -> NewsItem:
    _apply(item, changes, creating=False)
    session.flush()
    return item


def current_news(session: Session, today: date) -> list[NewsItem]:
    """The active items whose dates include `today` (the tenant's local date), newest first."""
    return list(
        session.scalars(
            select(NewsItem)
            .where(
                NewsItem.active.is_(True),
                or_(NewsItem.starts_on.is_(None), NewsItem.starts_on <= today),
                or_(NewsItem.ends_on.is_(None), NewsItem.ends_on >= today),
            )
            .order_by(NewsItem.starts_on.desc().nulls_last(), NewsItem.id.desc())
        )
    )


def _apply(item: NewsItem, values: dict[str, Any], *, creating: bool) -> None:
    unknown = set(values) - FIELDS
    if unknown:
        raise InvalidInput(**{name: _l("Unknown field.") for name in unknown})
    errors = {}
    if "title" in values or creating:
        title = str(values.get("title") or "").strip()
        if not title:
            errors["title"] = _l("The title is required.")
        elif len(title) > 160:
            errors["title"] = _l("At most %(n)d characters.", n=160)
        values["title"] = title
    if "body" in values:
        values["body"] = str(values["body"] or "").strip() or None
    for name in ("starts_on", "ends_on"):
        if values.get(name) is not None and not isinstance(values[name], date):
            errors[name] = _l("Enter a date (year-month-day).")
    starts = values.get("starts_on", item.starts_on)
    ends = values.get("ends_on", item.ends_on)
    if isinstance(starts, date) and isinstance(ends, date) and ends < starts:
        errors["ends_on"] = _l("The end date cannot be before the start date.")
    if errors:
        raise InvalidInput(**errors)
    if "active" in values:
        values["active"] = bool(values["active"])
    for name, value in values.items():
        setattr(item, name, value)
