"""What staff can do with a member beyond the core's screens: links to active
plugins' pages about them (pay with points, prepaid packs…), through `member_actions`."""

from __future__ import annotations

from typing import Any

from flask import g, url_for
from sqlalchemy.orm import Session

from core.host.platform import current_platform
from core.loyalty.members import Membership
from core.panel.access import can


def member_actions(session: Session, member: Membership) -> list[dict[str, Any]]:
    """The links the tenant's active plugins offer for `member` that the current user
    may open, in order; a failing plugin is logged and left out."""
    results = current_platform().plugins.call(
        getattr(g, "active_plugins", set()),
        "member_actions",
        session=session,
        tenant=g.tenant,
        member=member,
    )
    items = [item for result in results if result for item in result]
    return [
        {"url": url_for(item.endpoint, **item.values), "label": str(item.label)}
        for item in sorted(items, key=lambda i: (i.order, str(i.label)))
        if can(*item.roles)
    ]
