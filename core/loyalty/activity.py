"""Activity: the ledger's entries with who did them, where and for whom.

One statement per page: the member, their account, the staff user, the
location and the redemption an entry paid for (a customer's request may still
be pending) are joined in, never loaded one row at a time. Pages are ordered by
the entry's time (the `(tenant_id, created_at)` index), or, for one member,
by id (the `(member_id, id)` index).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from core.loyalty.ledger import Entry, kind_label
from core.loyalty.locations import Location
from core.loyalty.members import Membership
from core.loyalty.rewards import Redemption, Status
from core.loyalty.staff import StaffUser

# Who did it, when it was no staff user: the API (a point of sale), the customer
# (a request from their app) or the platform (welcome points, expiry, birthdays…).
ACTOR_LABELS = {
    "token": _l("API"),
    "customer": _l("Customer"),
    "system": _l("System"),
}


def local_day_range(
    timezone: str, first: date | None, last: date | None
) -> tuple[datetime | None, datetime | None]:
    """[start, end) in UTC for the local days `first` to `last` (both included) in
    `timezone`; None where the day is None."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(first, time(), zone) if first else None
    end = datetime.combine(last + timedelta(days=1), time(), zone) if last else None
    return start, end


@dataclass(frozen=True)
class ActivityFilter:
    """What to show; None means any."""

    start: datetime | None = None  # included
    end: datetime | None = None  # excluded
    staff_id: int | None = None
    location_id: int | None = None
    kind: str | None = None
    member_id: int | None = None


@dataclass(frozen=True)
class ActivityRow:
    entry: Entry
    member: Membership
    staff_name: str | None
    location_name: str | None
    request_status: str | None = None  # the redemption's, when the entry paid for one

    @property
    def actor_label(self) -> str:
        """The staff user's name, else what kind of actor it was."""
        if self.entry.actor_kind == "staff":
            return self.staff_name or str(_l("Former employee"))
        return str(ACTOR_LABELS.get(self.entry.actor_kind, self.entry.actor_kind))

    @property
    def pending(self) -> bool:
        """The entry holds the points of a request staff have not decided yet."""
        return self.request_status == Status.REQUESTED

    @property
    def movement(self) -> str:
        """What the entry is: a request's debit says whether it is still pending or was
        cancelled (its points came back); a done redemption reads as one."""
        if self.request_status == Status.REQUESTED:
            return str(_l("Reward requested (pending)"))
        if self.request_status == Status.CANCELLED:
            return str(_l("Reward requested (cancelled)"))
        return kind_label(self.entry.kind, self.entry.label)


def _where(stmt: Any, filters: ActivityFilter) -> Any:
    if filters.start is not None:
        stmt = stmt.where(Entry.created_at >= filters.start)
    if filters.end is not None:
        stmt = stmt.where(Entry.created_at < filters.end)
    if filters.staff_id is not None:
        stmt = stmt.where(Entry.actor_kind == "staff", Entry.actor_id == filters.staff_id)
    if filters.location_id is not None:
        stmt = stmt.where(Entry.location_id == filters.location_id)
    if filters.kind:
        stmt = stmt.where(Entry.kind == filters.kind)
    if filters.member_id is not None:
        stmt = stmt.where(Entry.member_id == filters.member_id)
    return stmt


def activity_page(
    session: Session, filters: ActivityFilter, *, limit: int = 50, offset: int = 0
) -> tuple[list[ActivityRow], bool]:
    """A page of entries, newest first, and whether there is a next page (no count:
    counting millions of entries is slow, and the next page's existence is enough)."""
    stmt = (
        select(Entry, Membership, StaffUser.name, Location.name, Redemption.status)
        .join(Membership, Membership.id == Entry.member_id)
        .outerjoin(StaffUser, and_(Entry.actor_kind == "staff", StaffUser.id == Entry.actor_id))
        .outerjoin(Location, Location.id == Entry.location_id)
        .outerjoin(Redemption, Redemption.entry_id == Entry.id)
    )
    stmt = _where(stmt, filters)
    if filters.member_id is not None:
        stmt = stmt.order_by(Entry.id.desc())
    else:
        stmt = stmt.order_by(Entry.created_at.desc(), Entry.id.desc())
    rows = session.execute(stmt.limit(limit + 1).offset(offset)).all()
    page = [ActivityRow(*row) for row in rows]
    return page[:limit], len(page) > limit
