"""Hook implementations: the cashback line of a purchase, and what a quoted bill lets pay
with points."""

from __future__ import annotations

from decimal import Decimal

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


@hookimpl
def points_payable(
    session: Session, amount: Decimal, member: Membership | None
) -> tuple[int, Decimal]:
    """The cap's most points for this bill (no more than the member has), and their value."""
    settings = services.get_settings(session)
    points = services.max_points_for_bill(settings, amount)
    if member is not None:
        points = min(points, member.balance)
    return points, (points * settings["point_value"]).quantize(Decimal("0.01"))
