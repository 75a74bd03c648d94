"""Who a send reaches: the devices of the members an audience describes.

An audience is plain data (kept on the send, so a scheduled send is resolved when it
goes out): every condition given must hold, none given means every member.

- ``segment``: a key of a plugin's `member_segments` (a tier of the tiers plugin);
- ``city``: the member bought at a location of that city;
- ``expiring``: they have points expiring this (local) month;
- ``idle_days``: no purchase in that many days;
- ``birthday_month``: their birthday falls in this (local) month;
- ``min_balance``: their balance is at least that.

A campaign reaches only the devices of people who want news and offers on their phone;
a transactional push (``member_id``) those of people who want its topic.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, exists, extract, func, select
from sqlalchemy.orm import Session

from core.sdk import (
    Location,
    MemberSegment,
    Membership,
    Purchase,
    Tenant,
    current_platform,
    members_with_points_expiring,
    utcnow,
    wanting_push,
)
from plugins.push.models import Device

KEYS = ("segment", "city", "expiring", "idle_days", "birthday_month", "min_balance", "member_id")


def segments(session: Session) -> list[MemberSegment]:
    """The member segments the merchant's active plugins offer (tiers…)."""
    return current_platform().plugins.ask(session, "member_segments")


def cities(session: Session) -> list[str]:
    return list(
        session.scalars(
            select(Location.city)
            .where(Location.city.is_not(None), Location.city != "")
            .distinct()
            .order_by(Location.city)
        )
    )


def _members(session: Session, tenant: Tenant, audience: dict[str, Any], now: datetime) -> Select:
    query = select(Membership.id)
    if audience.get("member_id") is not None:
        query = query.where(Membership.id == audience["member_id"])
    if audience.get("segment"):
        found = {s.key: s for s in segments(session)}.get(audience["segment"])
        if found is None:  # its plugin was switched off: nobody, rather than everybody
            return query.where(False)
        query = query.where(Membership.id.in_(found.member_ids))
    if audience.get("city"):
        query = query.where(
            exists(
                select(Purchase.id)
                .join(Location, and_(Location.id == Purchase.location_id))
                .where(Purchase.member_id == Membership.id, Location.city == audience["city"])
            )
        )
    if audience.get("expiring"):
        query = query.where(Membership.id.in_(members_with_points_expiring(tenant, now)))
    if audience.get("idle_days"):
        since = now - timedelta(days=int(audience["idle_days"]))
        query = query.where(
            ~exists(
                select(Purchase.id).where(
                    Purchase.member_id == Membership.id, Purchase.created_at >= since
                )
            )
        )
    if audience.get("birthday_month"):
        month = now.astimezone(ZoneInfo(tenant.timezone)).month
        query = query.where(extract("month", Membership.birthday) == month)
    if audience.get("min_balance") is not None:
        query = query.where(Membership.balance >= int(audience["min_balance"]))
    return query


def _reached(
    session: Session, tenant: Tenant, audience: dict[str, Any], topic: str | None, now: datetime
) -> Select:
    # Filtered in SQL (a campaign reaches up to every member of the merchant): the
    # members the audience describes who want the topic on their phone.
    members = _members(session, tenant, audience, now).subquery()
    return (
        select(Device.id)
        .join(Membership, Membership.id == Device.member_id)
        .where(Device.member_id.in_(select(members.c.id)), wanting_push(topic or "news"))
    )


def devices(
    session: Session,
    tenant: Tenant,
    audience: dict[str, Any],
    topic: str | None = None,
    now: datetime | None = None,
) -> Select:
    """A SELECT of (device id, token) of every device the audience reaches, in id order."""
    reached = _reached(session, tenant, audience, topic, now or utcnow())
    return reached.add_columns(Device.token).order_by(Device.id)


def count(session: Session, tenant: Tenant, audience: dict[str, Any]) -> int:
    """The exact number of devices a send to `audience` would reach now."""
    reached = _reached(session, tenant, audience, None, utcnow())
    return session.scalar(reached.with_only_columns(func.count(Device.id))) or 0
