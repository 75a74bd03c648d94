"""Inicio: the program's figures per day over a chosen range (charts drawn as SVG on
the server from the daily figures, see core/figures.py), totals, the points
customers could still redeem, pending requests, and plugins' widgets."""

from __future__ import annotations

import functools
from datetime import date, timedelta
from typing import Any

from babel import dates, numbers
from flask import Blueprint, flash, g, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import escape
from sqlalchemy import func, select

from core.host.platform import current_platform
from core.loyalty import figures, member_totals
from core.loyalty.activity import ActivityFilter, activity_page, local_day_range
from core.loyalty.rewards import Redemption, Reward, Status
from core.panel import menu
from core.panel.access import staff_required
from core.panel.charts import HEIGHT, WIDTH, bars
from core.web.request import reading_db

menu.register(menu.MenuItem("t.panel.home", _l("Home"), order=10))


def make_blueprint() -> Blueprint:
    bp = Blueprint("panel", __name__, url_prefix="/panel")
    bp.get("/")(home)
    return bp


MAX_DAYS = 366
LATEST = 15


@staff_required()
def home() -> Any:
    # Figures only: read on the replica when there is one (core/host/replica.py).
    session = reading_db()
    today = figures.local_today(g.tenant)
    since, until = _range(today)
    days = figures.figures_between(session, g.tenant, since, until)
    totals = {field: sum(getattr(d, field) for d in days) for field in figures.FIELDS}
    # A year's range is 365 labels and 1,460 values: flask-babel's helpers look the
    # locale up on every call, and Babel takes ~30 µs a number. Stored days never
    # change, so the same labels and values come back page after page: written once
    # per process (`_label`, `_shown`).
    locale = str(get_locale())
    labels = [_label(d.day, locale) for d in days]

    def number(value: int) -> str:
        return _shown(value, locale)

    charts = [
        (_l("Customers who joined"), *bars([d.members for d in days], labels, number)),
        (_l("Points issued"), *bars([d.issued for d in days], labels, number)),
        (_l("Points redeemed"), *bars([d.redeemed for d in days], labels, number)),
        (_l("Redemptions"), *bars([d.redemptions for d in days], labels, number)),
    ]
    # How many members, and what they could still redeem (the program's liability):
    # kept as they change (core/loyalty/member_totals.py), no pass over the memberships.
    kept = member_totals.current(session)
    overall = {
        "members": kept.members,
        "outstanding": kept.points,
        "rewards": session.scalar(select(func.count(Reward.id)).where(Reward.active.is_(True))),
        "pending": session.scalar(
            select(func.count(Redemption.id)).where(Redemption.status == Status.REQUESTED)
        ),
    }
    # The chosen days' latest movements, newest first by when they happened (an id
    # says only when the row was written: imported or back-dated entries come late).
    start, end = local_day_range(g.tenant.timezone, since, until)
    # Activity's rows: a customer's request reads as pending, not as a done redemption.
    latest, _more = activity_page(session, ActivityFilter(start=start, end=end), limit=LATEST)
    widgets = current_platform().plugins.call(
        g.active_plugins,
        "dashboard_widgets",
        session=session,
        tenant=g.tenant,
        since=since,
        until=until,
    )
    return render_template(
        "panel/home.html",
        tenant=g.tenant,
        overall=overall,
        totals=totals,
        charts=charts,
        first_label=labels[0] if labels else None,
        last_label=labels[-1] if labels else None,
        since=since,
        until=until,
        latest=latest,
        widgets=[w for ws in widgets for w in ws],
        width=WIDTH,
        height=HEIGHT,
    )


@functools.lru_cache(maxsize=4096)
def _label(day: date, locale: str) -> str:
    return dates.format_date(day, "d MMM", locale=locale)


@functools.lru_cache(maxsize=65536)
def _shown(value: int, locale: str) -> str:
    """A value as a bar's title writes it: formatted, HTML-safe."""
    return str(escape(numbers.format_decimal(value, locale=locale)))


def _range(today: date) -> tuple[date, date]:
    """The chosen range (?since=…&until=…, local dates), 30 days by default, at most a year."""
    try:
        until = date.fromisoformat(request.args["until"]) if request.args.get("until") else today
        since = (
            date.fromisoformat(request.args["since"])
            if request.args.get("since")
            else until - timedelta(days=29)
        )
    except ValueError:
        flash(_("Dates are written year-month-day."), "error")
        until, since = today, today - timedelta(days=29)
    until = min(until, today)
    since = max(min(since, until), until - timedelta(days=MAX_DAYS - 1))
    return since, until
