"""Points that expire soon, as the customer app tells them: "120 puntos vencen el 1
de enero".

"Soon" is what the next monthly run will take (`expiry.upcoming_expiries` with
`months=SOON_MONTHS`): the points the month's warning e-mail announces, so the
card and the e-mail never disagree. Dates are the lots' own, in the merchant's
time zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton
from flask_babel import format_number, get_locale, ngettext
from sqlalchemy.orm import Session

from core.host.db import utcnow
from core.loyalty.expiry import upcoming_expiries_of
from core.loyalty.members import Membership
from tenants.models import Tenant

SOON_MONTHS = 1


def expiring_soon(
    session: Session, members: Sequence[tuple[Membership, Tenant]]
) -> dict[int, list[str]]:
    """For each member id, its points expiring soon as sentences, soonest first (one
    statement whatever the number of members)."""
    found = upcoming_expiries_of(session, members, months=SOON_MONTHS)
    now = utcnow()
    today = {
        member.id: now.astimezone(ZoneInfo(tenant.timezone)).date() for member, tenant in members
    }
    return {
        member_id: [sentence(points, day, today[member_id]) for day, points in rows]
        for member_id, rows in found.items()
    }


def sentence(points: int, day: date, today: date) -> str:
    """ "120 puntos vencen el 1 de enero" in the reader's language (no year: it is soon).
    A date already past (the run on the 1st has not taken them yet) says so."""
    values = {
        "points": format_number(points),
        "date": format_skeleton("MMMMd", day, locale=get_locale()),
    }
    if day < today:
        return ngettext(
            "%(points)s point expired on %(date)s",
            "%(points)s points expired on %(date)s",
            points,
            **values,
        )
    return ngettext(
        "%(points)s point expires on %(date)s",
        "%(points)s points expire on %(date)s",
        points,
        **values,
    )
