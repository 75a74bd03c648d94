"""A member at a glance: short labelled facts that active plugins add beside the
balance (a tier, a punch card's progress, a pack's uses), through `member_summary`."""

from __future__ import annotations

from flask import g
from sqlalchemy.orm import Session

from core.host.contributions import SummaryLine
from core.host.platform import current_platform
from core.loyalty.members import Membership


def member_summary(session: Session, member: Membership) -> list[SummaryLine]:
    """The lines the tenant's active plugins give for `member`; a failing plugin is
    logged and left out, never allowed to break the cashier's page."""
    results = current_platform().plugins.call(
        getattr(g, "active_plugins", set()),
        "member_summary",
        session=session,
        tenant=g.tenant,
        member=member,
    )
    return [line for result in results if result for line in result]
