"""Hook implementations: the tier bonus on purchases, tier upkeep, the period job."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.customers import Membership
from core.ledger import Entry
from core.plugins import hookimpl
from core.purchases import PointsLine, Purchase
from plugins.tiers import jobs, services
from tenants.models import Tenant
from worker.jobs import PeriodicJob

KIND = "tier_bonus"


@hookimpl
def calculate_points(session: Session, tenant: Tenant, member: Membership, purchase: Purchase,
                     base_points: int) -> list[PointsLine] | None:
    if base_points <= 0:
        return None
    tier = services.current_tier(session, tenant, member.id)
    points = services.tier_bonus(tier, base_points)
    if not points:
        return None
    return [PointsLine(KIND, points, services.tier_bonus_label(tier, tenant.language))]


@hookimpl
def purchase_recorded(session: Session, tenant: Tenant, member: Membership, purchase: Purchase,
                      entries: list[Entry]) -> None:
    services.after_purchase(session, tenant, member, purchase)


@hookimpl
def purchase_returned(session: Session, tenant: Tenant, member: Membership, purchase: Purchase,
                      entry: Entry | None) -> None:
    services.after_return(session, tenant, member, purchase)


@hookimpl
def periodic_jobs() -> list[PeriodicJob]:
    # Hourly: each tenant's midnight falls at a different UTC hour.
    return [PeriodicJob("tiers.tick", jobs.tick, every=3600)]
