"""Clientes: the merchant's customers — search, filters, detail with every movement
and the requested rewards to confirm or cancel, invitations by e-mail, the CSV
export and the printable card.

Every staff member may search, open a customer and print their card (the till
needs it); inviting customers and exporting them is for owners and admins.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, DateField, EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from core.host.actors import Actor
from core.host.errors import NotFound, PremiaError
from core.host.platform import current_platform
from core.host.replica import reading_session
from core.loyalty.activity import ActivityFilter, activity_page, local_day_range
from core.loyalty.customers import MemberFilter, count_members, find_members, iter_members
from core.loyalty.expiry import upcoming_expiries
from core.loyalty.invitations import invite_member
from core.loyalty.members import Membership, get_member
from core.loyalty.rewards import Redemption, Status
from core.panel import menu
from core.panel.access import MANAGERS, staff_required
from core.panel.requests import DecideForm, decide_request
from core.web.cards import card_pdf
from core.web.i18n import money_locale
from core.web.request import db
from core.web.spreadsheet import csv_lines, delimiter_for

menu.register(menu.MenuItem("t.panel_customers.index", _l("Customers"), order=30))

PAGE_SIZE = 25


class SearchForm(FlaskForm):
    """The list's filters, read from the query string (a GET form: no CSRF)."""

    class Meta:
        csrf = False

    q = StringField(_l("Search"), validators=[Optional(), Length(max=200)])
    with_points = BooleanField(_l("With points"))
    pending = BooleanField(_l("With pending requests"))
    joined_from = DateField(_l("Joined from"), validators=[Optional()])
    joined_to = DateField(_l("Joined until"), validators=[Optional()])
    sort = SelectField(
        _l("Order"),
        choices=[("newest", _l("Newest first")), ("balance", _l("Most points first"))],
        default="newest",
        validators=[Optional()],
    )

    def validate_joined_to(self, field: DateField) -> None:
        first = self.joined_from.data
        if first and field.data and field.data < first:
            raise ValidationError(_l("The end date is before the start date."))


class InviteForm(FlaskForm):
    email = EmailField(
        _l("E-mail"), validators=[DataRequired(_l("Enter the customer's e-mail.")), Length(max=254)]
    )
    first_name = StringField(_l("First name"), validators=[Optional(), Length(max=120)])
    last_name = StringField(_l("Last name"), validators=[Optional(), Length(max=120)])
    document_id = StringField(_l("Document"), validators=[Optional(), Length(max=40)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=40)])


def make_blueprint() -> Blueprint:
    bp = Blueprint("panel_customers", __name__, url_prefix="/panel/customers")
    bp.get("/")(index)
    bp.get("/export.csv")(export)
    bp.route("/invite", methods=["GET", "POST"])(invite)
    bp.get("/<code>")(detail)
    bp.get("/<code>/card.pdf")(card)
    bp.post("/<code>/requests/<int:redemption_id>/<any(confirm, cancel):action>")(decide)
    return bp


def _search() -> tuple[SearchForm, str, MemberFilter, str]:
    form = SearchForm(request.args)
    if not form.validate():
        # A bad date narrows nothing (its message says why); the rest still applies.
        for name in ("joined_from", "joined_to"):
            if getattr(form, name).errors:
                getattr(form, name).data = None
    start, end = local_day_range(g.tenant.timezone, form.joined_from.data, form.joined_to.data)
    filters = MemberFilter(
        with_points=bool(form.with_points.data),
        pending_requests=bool(form.pending.data),
        joined_from=start,
        joined_before=end,
    )
    sort = form.sort.data if form.sort.data == "balance" else "newest"
    return form, (form.q.data or "").strip(), filters, sort


def _page() -> int:
    page = request.args.get("page", type=int) or 1
    return min(max(page, 1), 100_000)


@staff_required()
def index() -> Any:
    form, query, filters, sort = _search()
    page = _page()
    session = db()
    total = count_members(session, query, filters)
    members = find_members(
        session, query, filters=filters, sort=sort, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    pages = max(1, -(-total // PAGE_SIZE))
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template(
        "panel/customers/list.html",
        form=form,
        members=members,
        total=total,
        page=page,
        pages=pages,
        args=args,
    )


def _member(code: str) -> Any:
    try:
        return get_member(db(), code)
    except NotFound:
        abort(404)


@staff_required()
def detail(code: str) -> Any:
    session = db()
    member = _member(code)
    page = _page()
    rows, more = activity_page(
        session, ActivityFilter(member_id=member.id), limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    pending = session.scalars(
        select(Redemption)
        .where(Redemption.member_id == member.id, Redemption.status == Status.REQUESTED)
        .order_by(Redemption.id)
    ).all()
    return render_template(
        "panel/customers/detail.html",
        member=member,
        customer=member.customer,
        rows=rows,
        page=page,
        more=more,
        expiries=upcoming_expiries(session, member, months=3),
        pending=pending,
        decide_form=DecideForm(formdata=None),
    )


@staff_required()
def decide(code: str, redemption_id: int, action: str) -> Any:
    """Confirm or cancel one of the member's requests ("Clientes → Canjes solicitados →
    Confirmar"), back to the member's page."""
    member = _member(code)
    decide_request(member, redemption_id, action)
    return redirect(url_for(".detail", code=member.code))


@staff_required(*MANAGERS)
def invite() -> Any:
    form = InviteForm()
    if form.validate_on_submit():
        session = db()
        try:
            member = invite_member(
                session,
                email=form.email.data,
                first_name=form.first_name.data or "",
                last_name=form.last_name.data or "",
                document_id=form.document_id.data,
                phone=form.phone.data,
                actor=Actor.staff(current_user.user.id),
            )
            session.commit()
        except PremiaError as error:
            session.rollback()
            for name, message in error.fields.items():
                getattr(form, name, form.email).errors.append(str(message))
            if not error.fields:
                form.email.errors.append(str(error.message))
        else:
            flash(str(_l("Invitation sent to %(email)s.", email=member.customer.email)), "success")
            return redirect(url_for(".detail", code=member.code))
    return render_template("panel/customers/invite.html", form=form)


@staff_required(*MANAGERS)
def export() -> Any:
    _form, query, filters, _sort = _search()
    tenant = g.tenant
    platform, zone = current_platform(), ZoneInfo(tenant.timezone)
    header = [
        str(label)
        for label in (
            _l("Code"),
            _l("First name"),
            _l("Last name"),
            _l("E-mail"),
            _l("Document"),
            _l("Phone"),
            _l("Birthday"),
            _l("Joined"),
            _l("Points"),
        )
    ]

    def row(member: Membership) -> list[Any]:
        return [
            member.code,
            member.first_name,
            member.last_name,
            member.email,
            member.document_id,
            member.phone,
            _iso(member.birthday),
            member.created_at.astimezone(zone).date().isoformat(),
            member.balance,
        ]

    # The rows are read batch by batch in sessions of their own, not the request's
    # (closed when the view returns): no transaction waits on the client's download.
    # On the replica when there is one (an export decides nothing).
    rows = iter_members(
        lambda: reading_session(platform.replica, platform.sessions, tenant.id),
        row,
        query,
        filters,
    )
    lines = csv_lines(header, rows, delimiter=delimiter_for(money_locale()))
    filename = f"{tenant.slug}-customers-{date.today().isoformat()}.csv"
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


def _iso(day: date | None) -> str:
    return day.isoformat() if day else ""


@staff_required()
def card(code: str) -> Any:
    member = _member(code)
    pdf = card_pdf(g.tenant, member)
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="card-{member.code}.pdf"',
            "Cache-Control": "no-store",
        },
    )
