"""Encuestas in the panel (managers): the answers with their member, score, comment and
the employee and location of the visit that prompted them, filtered by local dates and
score band, exported to CSV; and the NPS widget on Inicio."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, g, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import Select, select
from sqlalchemy.orm import Session
from wtforms import DateField, SelectField
from wtforms.validators import Optional, ValidationError

from core.sdk import (
    MANAGERS,
    Location,
    Membership,
    StaffUser,
    Tenant,
    csv_lines,
    delimiter_for,
    local_day_range,
    money_locale,
    reading_db,
    render_template,
    staff_required,
)
from plugins.nps.models import Survey
from plugins.nps.surveys import BANDS, Score, band, band_condition, score_between

PAGE_SIZE = 50
TREND_MONTHS = 12
BAND_LABELS = {
    "promoter": _l("Promoters (9–10)"),
    "passive": _l("Passives (7–8)"),
    "detractor": _l("Detractors (0–6)"),
}


class AnswersForm(FlaskForm):
    """The filters, from the query string (a GET form: no CSRF)."""

    class Meta:
        csrf = False

    start = DateField(_l("From"), validators=[Optional()])
    end = DateField(_l("Until"), validators=[Optional()])
    band = SelectField(_l("Score"), validators=[Optional()], validate_choice=False)

    def validate_end(self, field: DateField) -> None:
        if self.start.data and field.data and field.data < self.start.data:
            raise ValidationError(_l("The end date is before the start date."))


def make_blueprint() -> Blueprint:
    bp = Blueprint("nps", __name__, url_prefix="/panel/nps")
    bp.get("/")(index)
    bp.get("/answers.csv")(export)
    return bp


def _filtered() -> tuple[AnswersForm, Select]:
    form = AnswersForm(request.args)
    form.band.choices = [("", _l("All scores")), *BAND_LABELS.items()]
    if not form.validate():
        for field in (form.start, form.end):
            if field.errors:
                field.data = None
    start, end = local_day_range(g.tenant.timezone, form.start.data, form.end.data)
    query = (
        select(Survey, Membership, StaffUser.name, Location.name)
        .join(Membership, Membership.id == Survey.member_id)
        .outerjoin(StaffUser, StaffUser.id == Survey.staff_id)
        .outerjoin(Location, Location.id == Survey.location_id)
        .where(Survey.answered_at.is_not(None))
        .order_by(Survey.answered_at.desc(), Survey.id.desc())
    )
    if start is not None:
        query = query.where(Survey.answered_at >= start)
    if end is not None:
        query = query.where(Survey.answered_at < end)
    if form.band.data in BANDS:
        query = query.where(band_condition(form.band.data))
    return form, query


@staff_required(*MANAGERS)
def index() -> Any:
    form, query = _filtered()
    page = min(max(request.args.get("page", type=int) or 1, 1), 100_000)
    rows = reading_db().execute(query.limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)).all()
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template(
        "nps/index.html",
        form=form,
        rows=rows[:PAGE_SIZE],
        more=len(rows) > PAGE_SIZE,
        page=page,
        args=args,
        band=band,
        band_labels=BAND_LABELS,
    )


@staff_required(*MANAGERS)
def export() -> Response:
    _form, query = _filtered()
    zone = ZoneInfo(g.tenant.timezone)
    header = [
        _l("Date"),
        _l("Customer code"),
        _l("Customer"),
        _l("E-mail"),
        _l("Score"),
        _l("Band"),
        _l("Comment"),
        _l("Employee"),
        _l("Location"),
        _l("Points"),
    ]
    rows = [
        [
            survey.answered_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            member.code,
            member.display_name,
            member.email,
            survey.score,
            str(BAND_LABELS[band(survey.score)]),
            survey.comment,
            staff_name,
            location_name,
            survey.bonus if survey.bonus_entry_id else 0,
        ]
        for survey, member, staff_name, location_name in reading_db().execute(query)
    ]
    lines = csv_lines(header, rows, delimiter=delimiter_for(money_locale()))
    filename = f"{g.tenant.slug}-surveys-{date.today().isoformat()}.csv"
    return Response(
        (line.encode("utf-8") for line in lines),
        mimetype="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Language": str(get_locale()),
        },
    )


# --- Inicio ----------------------------------------------------------------

WIDTH, HEIGHT, PAD = 640, 160, 16  # the trend's box, as the core's charts


@dataclass(frozen=True)
class TrendBar:
    """A month's NPS as a bar up from the middle line (positive) or down (negative)."""

    month: date
    score: Score
    x: float
    y: float
    width: float
    height: float


def months_until(until: date, count: int = TREND_MONTHS) -> list[date]:
    """The first days of the `count` months ending with `until`'s, oldest first."""
    months = [until.replace(day=1)]
    while len(months) < count:
        months.append((months[-1] - timedelta(days=1)).replace(day=1))
    return months[::-1]


def trend(session: Session, tenant: Tenant, until: date) -> list[TrendBar]:
    """The NPS of each local month of the year ending with `until`'s, as bars."""
    months = months_until(until)
    step = (WIDTH - 2 * PAD) / len(months)
    middle = HEIGHT / 2
    bars = []
    for index, month in enumerate(months):
        last = (month + timedelta(days=31)).replace(day=1) - timedelta(days=1)
        score = score_between(session, *local_day_range(tenant.timezone, month, last))
        value = score.nps or 0
        height = (middle - PAD) * abs(value) / 100
        bars.append(
            TrendBar(
                month=month,
                score=score,
                x=PAD + index * step + step * 0.1,
                y=middle - height if value >= 0 else middle,
                width=step * 0.8,
                height=height,
            )
        )
    return bars


def widget(session: Session, tenant: Tenant, since: date, until: date) -> Markup:
    score = score_between(session, *local_day_range(tenant.timezone, since, until))
    return Markup(
        render_template(
            "nps/widget.html",
            score=score,
            bars=trend(session, tenant, until),
            width=WIDTH,
            height=HEIGHT,
        )
    )
