"""Actividad: points given, redemptions and every other movement, with who did it,
where and when, filterable by local dates, employee, location and kind.

Owners and admins see everyone's activity. An employee sees only what they did
themself (their own till's record): the activity of the whole staff is a
manager's view, so the employee filter is not offered to them and is forced to
their own id.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, SelectField
from wtforms.validators import Optional, ValidationError

from core.host.platform import current_platform
from core.loyalty.activity import ActivityFilter, activity_page, local_day_range
from core.loyalty.ledger import KIND_LABELS
from core.loyalty.locations import Location
from core.loyalty.staff import StaffUser
from core.panel import menu
from core.panel.access import can, staff_required
from core.web.request import reading_db

menu.register(menu.MenuItem("t.panel_activity.index", _l("Activity"), order=40))

PAGE_SIZE = 50


def _int_or_none(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**31 else None


class ActivityForm(FlaskForm):
    """The filters, from the query string (a GET form: no CSRF)."""

    class Meta:
        csrf = False

    start = DateField(_l("From"), validators=[Optional()])
    end = DateField(_l("Until"), validators=[Optional()])
    staff = SelectField(
        _l("Employee"), coerce=_int_or_none, validators=[Optional()], validate_choice=False
    )
    location = SelectField(
        _l("Location"), coerce=_int_or_none, validators=[Optional()], validate_choice=False
    )
    kind = SelectField(_l("Movement"), validators=[Optional()], validate_choice=False)

    def validate_end(self, field: DateField) -> None:
        if self.start.data and field.data and field.data < self.start.data:
            raise ValidationError(_l("The end date is before the start date."))


def make_blueprint() -> Blueprint:
    bp = Blueprint("panel_activity", __name__, url_prefix="/panel/activity")
    bp.get("/")(index)
    return bp


@staff_required()
def index() -> Any:
    session = reading_db()  # on the replica when there is one: nothing here writes
    manager = current_user.user.is_manager
    form = ActivityForm(request.args)
    staff = session.execute(select(StaffUser.id, StaffUser.name).order_by(StaffUser.name)).all()
    locations = session.execute(select(Location.id, Location.name).order_by(Location.name)).all()
    everyone = ("", _l("Everyone"))
    form.staff.choices = [everyone, *((str(i), name) for i, name in staff)]
    form.location.choices = [("", _l("All locations")), *((str(i), name) for i, name in locations)]
    form.kind.choices = [
        ("", _l("All movements")),
        *((str(kind), label) for kind, label in KIND_LABELS.items()),
    ]
    if not form.validate():
        for field in (form.start, form.end):
            if field.errors:
                field.data = None
    start, end = local_day_range(g.tenant.timezone, form.start.data, form.end.data)
    filters = ActivityFilter(
        start=start,
        end=end,
        staff_id=form.staff.data if manager else current_user.user.id,
        location_id=form.location.data,
        kind=(form.kind.data or "").strip()[:30] or None,
    )
    page = min(max(request.args.get("page", type=int) or 1, 1), 100_000)
    rows, more = activity_page(session, filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    args = {k: v for k, v in request.args.items() if k != "page"}
    links = [
        {"url": url_for(link.endpoint, **link.values), "label": str(link.label)}
        for extra in current_platform().plugins.call(
            getattr(g, "active_plugins", set()), "activity_links", tenant=g.tenant
        )
        for link in extra or []
        if can(*link.roles)
    ]
    return render_template(
        "panel/activity/index.html",
        links=links,
        form=form,
        rows=rows,
        page=page,
        more=more,
        args=args,
        manager=manager,
    )
