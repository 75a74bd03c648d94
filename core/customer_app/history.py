"""A member's history in the customer app: their entries, newest first, with what
each is (translated), where it happened and when (in the merchant's time zone).

Never the merchant's internal description (seed 001: "sólo es visto por el
comercio"): the page's one statement does not even read it. Pages are keyset ones
on the entry id (the `(member_id, id)` index): the link to the next page names the
last id shown, so a page costs the same however long the history, and entries
written meanwhile never shift a page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.customer_app import menu
from core.customer_app.card import my_membership
from core.customer_app.sessions import customer_required
from core.host.contributions import MenuItem
from core.loyalty.ledger import Entry, kind_label
from core.loyalty.locations import Location
from core.loyalty.members import Membership
from core.loyalty.rewards import Redemption, Reward, Status
from core.web.request import reading_db

PAGE = 20

bp = Blueprint("app_history", __name__, url_prefix="/app")
menu.register(MenuItem("t.app_history.page", _l("History"), order=20))


@dataclass(frozen=True)
class HistoryRow:
    id: int
    kind: str
    label: str | None
    points: int
    created_at: datetime
    location: str | None
    request_status: str | None  # the redemption's, when the entry paid for one
    reward: str | None

    @property
    def movement(self) -> str:
        """What the entry is, for the customer: a request says whether it is pending
        or was cancelled (its points came back)."""
        if self.request_status == Status.REQUESTED:
            return str(_l("Reward requested (pending)"))
        if self.request_status == Status.CANCELLED:
            return str(_l("Reward requested (cancelled)"))
        return kind_label(self.kind, self.label)


def history_page(
    session: Session, member: Membership, *, before: int | None = None, limit: int = PAGE
) -> tuple[list[HistoryRow], int | None]:
    """The member's entries older than the entry `before` (all when None), newest
    first, and the cursor of the next page (None on the last)."""
    statement = (
        select(
            Entry.id,
            Entry.kind,
            Entry.label,
            Entry.points,
            Entry.created_at,
            Location.name,
            Redemption.status,
            Reward.name,
        )
        .outerjoin(Location, Location.id == Entry.location_id)
        .outerjoin(Redemption, Redemption.entry_id == Entry.id)
        .outerjoin(Reward, Reward.id == Redemption.reward_id)
        .where(Entry.member_id == member.id)
        .order_by(Entry.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        statement = statement.where(Entry.id < before)
    rows = [HistoryRow(*row) for row in session.execute(statement)]
    more = len(rows) > limit
    return rows[:limit], rows[limit - 1].id if more else None


@bp.get("/history")
@customer_required
def page() -> Any:
    member = my_membership()
    rows, next_before = [], None
    if member is not None:
        before = request.args.get("before", type=int)
        # On the replica when there is one: the page says when it lags behind.
        rows, next_before = history_page(reading_db(), member, before=before)
    return render_template("app/history.html", member=member, rows=rows, next_before=next_before)
