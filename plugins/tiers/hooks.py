"""Hook implementations: the tier bonus on purchases, tier upkeep, the period job."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from core.sdk import (
    Entry,
    MemberSegment,
    Membership,
    PeriodicJob,
    PointsLine,
    Purchase,
    SummaryLine,
    Tenant,
    Topic,
    format_money,
    hookimpl,
)
from plugins.tiers import jobs, services
from plugins.tiers.models import TierMember

KIND = "tier_bonus"


@hookimpl
def calculate_points(
    session: Session, tenant: Tenant, member: Membership, purchase: Purchase, base_points: int
) -> list[PointsLine] | None:
    if base_points <= 0:
        return None
    tier = services.current_tier(session, tenant, member.id)
    points = services.tier_bonus(tier, base_points)
    if not points:
        return None
    return [PointsLine(KIND, points, services.tier_bonus_label(tier, tenant.language))]


@hookimpl
def purchase_recorded(
    session: Session, tenant: Tenant, member: Membership, purchase: Purchase, entries: list[Entry]
) -> None:
    services.after_purchase(session, tenant, member, purchase)


@hookimpl
def purchase_returned(
    session: Session, tenant: Tenant, member: Membership, purchase: Purchase, entry: Entry | None
) -> None:
    services.after_return(session, tenant, member, purchase)


@hookimpl
def purchase_partly_returned(
    session: Session, tenant: Tenant, member: Membership, purchase: Purchase
) -> None:
    services.after_return(session, tenant, member, purchase)  # the spend kept fell


@hookimpl
def notification_topics() -> list[Topic]:
    return [services.TIER_CHANGED]


@hookimpl
def periodic_jobs() -> list[PeriodicJob]:
    # Hourly: each tenant's midnight falls at a different UTC hour.
    return [PeriodicJob("tiers.tick", jobs.tick, every=3600)]


@hookimpl
def member_summary(session: Session, tenant: Tenant, member: Membership) -> list[SummaryLine]:
    """The member's tier beside their balance, and what the next tier still needs."""
    if not services.tiers_of(services.get_settings(session)):
        return []  # the merchant has not defined tiers yet
    status = services.member_tier(session, member)
    lines = [SummaryLine(_l("Tier"), status.tier.name if status.tier else _l("None yet"))]
    if status.next_tier is not None and status.to_next is not None:
        lines.append(
            SummaryLine(
                _l("To reach %(tier)s", tier=status.next_tier.name),
                format_money(status.to_next, tenant.currency),
            )
        )
    return lines


@hookimpl
def member_facts(session: Session, member: Membership) -> dict[str, Any]:
    """The member's tier for the POS API (null: none reached)."""
    status = services.member_tier(session, member)
    if status.tier is None:
        return {"tier": None}
    return {
        "tier": {
            "code": status.tier.code,
            "name": status.tier.name,
            "since": status.since,
            "spend": status.spend,
            "next_tier": status.next_tier.name if status.next_tier else None,
            "to_next": status.to_next,
        }
    }


@hookimpl
def card_lines(session: Session, tenant: Tenant, member: Membership) -> list[SummaryLine]:
    """The member's tier on their card in the app, and what they still need to spend
    this period to reach the next one."""
    if not services.tiers_of(services.get_settings(session)):
        return []
    status = services.member_tier(session, member)
    lines = [SummaryLine(_l("Your tier"), status.tier.name if status.tier else _l("Not yet"))]
    if status.next_tier is not None and status.to_next is not None:
        lines.append(
            SummaryLine(
                _l("Spend to reach %(tier)s", tier=status.next_tier.name),
                format_money(status.to_next, tenant.currency),
            )
        )
    return lines


@hookimpl
def member_segments(session: Session, tenant: Tenant) -> list[MemberSegment]:
    # The members holding each tier now; a member with no row yet (no purchase since
    # tiers are on) holds a tier reached with no spend, when there is one.
    segments = []
    for tier in services.tiers_of(services.get_settings(session)):
        holds = select(TierMember.member_id).where(TierMember.tier == tier.code)
        if tier.threshold <= 0:
            holds = select(Membership.id).where(
                or_(
                    Membership.id.in_(holds),
                    ~exists().where(TierMember.member_id == Membership.id),
                )
            )
        segments.append(MemberSegment(f"tiers:{tier.code}", tier.name, holds))
    return segments
