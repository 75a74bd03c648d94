"""Hook implementations: the cashback line of a purchase."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.sdk import Membership, PointsLine, Purchase, Tenant, hookimpl
from plugins.cashback import services


@hookimpl
def calculate_points(
    session: Session, tenant: Tenant, member: Membership, purchase: Purchase
) -> list[PointsLine] | None:
    found = services.cashback_for(session, tenant, member, purchase)
    if found is None:
        return None
    program, points = found
    return [PointsLine(services.KIND, points, services.label(program, tenant.language))]
