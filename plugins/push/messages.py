"""The texts of transactional pushes, in the member's language (their app's, or the
merchant's): points received, a redemption confirmed or cancelled, points expiring."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import force_locale, format_date, format_decimal
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from core.sdk import Entry, Membership, Redemption, Tenant, external_url

# The topic of the profile's choices each message belongs to.
TOPIC = {
    "points_received": "points",
    "redemption_confirmed": "redemptions",
    "redemption_cancelled": "redemptions",
    "points_expiring": "expiry",
}


def compose(
    session: Session, tenant: Tenant, member_id: int, message: str, data: dict[str, Any]
) -> tuple[str, str, str] | None:
    """(title, body, link) of `message` to the member, or None when there is nothing
    to tell any more (the entry or redemption is gone)."""
    member = session.get(Membership, member_id)
    if member is None:
        return None
    card = external_url("t.app_card.home", tenant)
    with force_locale(member.customer.language or tenant.language):
        if message == "points_received":
            entry = session.get(Entry, data["entry_id"])
            if entry is None:
                return None
            body = _(
                "You received %(points)s points. Your balance: %(balance)s.",
                points=format_decimal(entry.points),
                balance=format_decimal(member.balance),
            )
            return tenant.name, body, card
        if message in ("redemption_confirmed", "redemption_cancelled"):
            redemption = session.get(Redemption, data["redemption_id"])
            if redemption is None:
                return None
            if message == "redemption_confirmed":
                body = _("Your reward “%(reward)s” is confirmed.", reward=redemption.reward.name)
            else:
                body = _(
                    "Your request for “%(reward)s” was cancelled; its points are back.",
                    reward=redemption.reward.name,
                )
            return tenant.name, body, external_url("t.app_rewards.catalogue", tenant)
        if message == "points_expiring":
            when = datetime.fromisoformat(data["expires_at"]).astimezone(ZoneInfo(tenant.timezone))
            body = _(
                "%(points)s of your points expire on %(date)s.",
                points=format_decimal(data["points"]),
                date=format_date(when.date(), "long"),
            )
            return tenant.name, body, card
    return None
