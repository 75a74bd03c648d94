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
from markupsafe import Markup, escape
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
# The page's own counts, built once (see figures._counting_statement).
_ACTIVE_REWARDS = select(func.count(Reward.id)).where(Reward.active.is_(True))
_PENDING = select(func.count(Redemption.id)).where(Redemption.status == Status.REQUESTED)


@staff_required()
def home() -> Any:
    # Figures only: read on the replica when there is one (core/host/replica.py).
    session = reading_db()
    today = figures.local_today(g.tenant)
    since, until = _range(today)
    days = figures.figures_between(session, g.tenant, since, until)
    columns = {field: [getattr(d, field) for d in days] for field in figures.FIELDS}
    totals = {field: sum(column) for field, column in columns.items()}
    # A year's range is 365 labels and 1,460 values: flask-babel's helpers look the
    # locale up on every call, and Babel takes ~30 µs a number. Stored days never
    # change, so the same labels and values come back page after page: written once
    # per process, HTML-safe, in dicts (`_Labels`, `_Numbers`: one object each for the
    # garbage collector to visit, where an lru_cache adds a tracked list per entry).
    locale = str(get_locale())
    labels = list(map(_labels(locale).__getitem__, (d.day for d in days)))
    number = _numbers(locale).__getitem__
    charts = [
        (_l("Customers who joined"), *bars(columns["members"], labels, number)),
        (_l("Points issued"), *bars(columns["issued"], labels, number)),
        (_l("Points redeemed"), *bars(columns["redeemed"], labels, number)),
        (_l("Redemptions"), *bars(columns["redemptions"], labels, number)),
    ]
    # How many members, and what they could still redeem (the program's liability):
    # kept as they change (core/loyalty/member_totals.py), no pass over the memberships.
    kept = member_totals.current(session)
    overall = {
        "members": kept.members,
        "outstanding": kept.points,
        "rewards": session.scalar(_ACTIVE_REWARDS),
        "pending": session.scalar(_PENDING),
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
        first_label=Markup(labels[0]) if labels else None,
        last_label=Markup(labels[-1]) if labels else None,
        since=since,
        until=until,
        latest=latest,
        widgets=[w for ws in widgets for w in ws],
        width=WIDTH,
        height=HEIGHT,
    )


class _Labels(dict[date, str]):
    """A locale's day labels ("16 jul"), HTML-safe, each written once per process."""

    def __init__(self, locale: str) -> None:
        super().__init__()
        self.locale = locale

    def __missing__(self, day: date) -> str:
        label = str(escape(dates.format_date(day, "d MMM", locale=self.locale)))
        if len(self) < 4096:  # bounded: a merchant looks back a few years at most
            self[day] = label
        return label


class _Numbers(dict[int, str]):
    """A locale's values as a bar's title writes them: formatted, HTML-safe."""

    def __init__(self, locale: str) -> None:
        super().__init__()
        self.locale = locale

    def __missing__(self, value: int) -> str:
        shown = str(escape(numbers.format_decimal(value, locale=self.locale)))
        if len(self) < 65536:  # bounded: the values seen recur (stored days)
            self[value] = shown
        return shown


@functools.cache
def _labels(locale: str) -> _Labels:
    return _Labels(locale)


@functools.cache
def _numbers(locale: str) -> _Numbers:
    return _Numbers(locale)


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
