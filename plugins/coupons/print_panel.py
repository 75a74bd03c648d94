"""Printing QR codes from the panel (managers): choose a campaign and the days its
codes were created, or a page QR, and a layout; the sheet is drawn by a job on the
bulk queue, its progress shown, and downloaded when ready. Page QRs: create one
(name and address, http or https only), see its scans per day, switch it off."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from core.sdk import (
    MANAGERS,
    InvalidInput,
    WholeNumberField,
    db,
    get_or_404,
    render_template,
    show_errors,
    staff_required,
)
from plugins.coupons import page_links, print_jobs, sheets
from plugins.coupons.models import Campaign, Kind
from plugins.coupons.page_links import PageLink
from plugins.coupons.print_jobs import PrintJob, Status

RECENT = 20


class PrintForm(FlaskForm):
    source = SelectField(_l("What to print"), validate_choice=False)
    layout = SelectField(_l("Layout"), default="labels-24", validate_choice=False)
    first_day = DateField(
        _l("Codes created from"),
        validators=[Optional()],
        description=_l("Empty: from the first code."),
    )
    last_day = DateField(
        _l("Codes created until"),
        validators=[Optional()],
        description=_l("Empty: until the last code."),
    )
    copies = WholeNumberField(
        _l("Copies of each QR"),
        validators=[
            Optional(),
            NumberRange(
                min=1,
                max=print_jobs.MAX_COPIES,
                message=_l(
                    "The copies must be a whole number from 1 to %(most)d.",
                    most=print_jobs.MAX_COPIES,
                ),
            ),
        ],
        description=_l("A shared code or a page QR: as many as you want to hand out."),
    )


class PageForm(FlaskForm):
    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Give the page a name.")), Length(max=80)],
        description=_l("For you, and printed above the QR: “Our menu”."),
    )
    target_url = StringField(
        _l("Web address"),
        validators=[DataRequired(_l("Give the page's web address."))],
        description=_l("Where the QR takes people: https://…"),
    )


def make_blueprint() -> Blueprint:
    bp = Blueprint("coupons_print", __name__, url_prefix="/panel/coupons")
    bp.route("/print/", methods=["GET", "POST"])(index)
    bp.get("/print/<int:job_id>")(job)
    bp.get("/print/<int:job_id>/download")(download)
    bp.route("/pages/", methods=["GET", "POST"])(pages)
    bp.post("/pages/<int:link_id>/deactivate")(deactivate_page)
    return bp


def blueprints() -> list[Blueprint]:
    """The panel's print screens and the page QRs' public short link."""
    return [make_blueprint(), page_links.make_blueprint()]


def _sources(session: Any) -> list[tuple[str, str]]:
    campaigns = session.scalars(
        select(Campaign).where(Campaign.active).order_by(Campaign.id.desc())
    ).all()
    links = session.scalars(
        select(PageLink).where(PageLink.active).order_by(PageLink.id.desc())
    ).all()
    return [
        *((f"c{c.id}", _("Campaign: %(name)s", name=c.name)) for c in campaigns),
        *((f"p{p.id}", _("Page QR: %(name)s", name=p.name)) for p in links),
    ]


def _source(value: str) -> tuple[str, int] | None:
    if len(value) < 2 or value[0] not in "cp" or not value[1:].isdigit():
        return None
    return value[0], int(value[1:])


@staff_required(*MANAGERS)
def index() -> Any:
    session = db()
    form = PrintForm()
    form.source.choices = _sources(session)
    form.layout.choices = [(name, str(layout.label)) for name, layout in sheets.LAYOUTS.items()]
    if request.method == "GET" and request.args.get("source"):
        form.source.data = request.args["source"]
    if form.validate_on_submit():
        source = _source(form.source.data or "")
        if source is None:
            form.source.errors = [_("Choose a campaign or a page.")]
        else:
            kind, row_id = source
            row = get_or_404(session, Campaign if kind == "c" else PageLink, row_id)
            copies = form.copies.data
            if copies is None:  # one of each code; a full page of a single QR
                single = kind == "c" and row.kind == Kind.SINGLE
                copies = (
                    1
                    if single
                    else sheets.LAYOUTS.get(form.layout.data, sheets.LAYOUTS["poster"]).per_page
                )
            try:
                made = print_jobs.start_print(
                    session,
                    g.tenant,
                    layout=form.layout.data,
                    campaign_id=row.id if kind == "c" else None,
                    page_link_id=row.id if kind == "p" else None,
                    first_day=form.first_day.data,
                    last_day=form.last_day.data,
                    copies=copies,
                    staff_id=current_user.user.id,
                )
            except InvalidInput as error:
                session.rollback()
                show_errors(form, error, fallback="source")
            else:
                session.commit()
                return redirect(url_for(".job", job_id=made.id))
    status = 422 if request.method == "POST" else 200
    recent = session.scalars(select(PrintJob).order_by(PrintJob.id.desc()).limit(RECENT)).all()
    return render_template(
        "coupons/sheets/print.html",
        form=form,
        recent=recent,
        names=_names(session, recent),
        layouts=sheets.LAYOUTS,
        labels=print_jobs.STATUS_LABELS,
    ), status


def _names(session: Any, jobs: list[PrintJob]) -> dict[str, str]:
    """What each print is of: "c<id>" / "p<id>" → the campaign's or page's name."""
    names: dict[str, str] = {}
    for item in jobs:
        if item.campaign_id is not None:
            names.setdefault(f"c{item.campaign_id}", session.get(Campaign, item.campaign_id).name)
        else:
            names.setdefault(f"p{item.page_link_id}", session.get(PageLink, item.page_link_id).name)
    return names


@staff_required(*MANAGERS)
def job(job_id: int) -> Any:
    session = db()
    row = get_or_404(session, PrintJob, job_id)
    waiting = row.status in (Status.QUEUED, Status.RUNNING)
    page = render_template(
        "coupons/sheets/job.html",
        job=row,
        name=_names(session, [row]).popitem()[1],
        layout=sheets.LAYOUTS[row.layout],
        ready=print_jobs.file_path(g.tenant, row) is not None,
        waiting=waiting,
        labels=print_jobs.STATUS_LABELS,
        Status=Status,
    )
    # A page with no script (the CSP allows none inline): the browser reloads it.
    return page, 200, {"Refresh": "3"} if waiting else {}


@staff_required(*MANAGERS)
def download(job_id: int) -> Any:
    session = db()
    row = get_or_404(session, PrintJob, job_id)
    path = print_jobs.file_path(g.tenant, row)
    if path is None:
        abort(404)
    response = send_file(
        path,
        mimetype="application/pdf",
        as_attachment=True,
        download_name=f"{g.tenant.slug}-qr-{row.id}-{row.layout}.pdf",
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


@staff_required(*MANAGERS)
def pages() -> Any:
    session = db()
    form = PageForm()
    if form.validate_on_submit():
        try:
            link = page_links.create_page_link(session, form.name.data, form.target_url.data)
        except InvalidInput as error:
            session.rollback()
            show_errors(form, error, fallback="name")
        else:
            session.commit()
            flash(_("Page QR “%(name)s” created.", name=link.name), "success")
            return redirect(url_for(".pages"))
    status = 422 if request.method == "POST" else 200
    links = session.scalars(select(PageLink).order_by(PageLink.id.desc())).all()
    scans = page_links.scans_by_day(session, g.tenant)
    return render_template(
        "coupons/sheets/pages.html",
        form=form,
        links=links,
        scans=scans,
        days={
            link.id: page_links.last_days(g.tenant, scans.get(link.id, {}).get("days", {}))
            for link in links
        },
        short_url=lambda link: page_links.short_url(g.tenant, link),
    ), status


@staff_required(*MANAGERS)
def deactivate_page(link_id: int) -> Any:
    session = db()
    link = get_or_404(session, PageLink, link_id)
    link.active = False
    session.commit()
    flash(
        _("Page QR “%(name)s” switched off: its QR no longer opens the page.", name=link.name),
        "success",
    )
    return redirect(url_for(".pages"))
