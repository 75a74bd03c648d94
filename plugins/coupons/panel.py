"""Cupones in the panel (managers): the campaigns with claimed against stock, a
campaign's codes (status, who claimed and when), creating a campaign with its codes,
switching a campaign or a code off, the codes as a spreadsheet, and (where the plan
allows) a CSV of the merchant's own codes, processed by a job (see uploads.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from core.sdk import (
    MANAGERS,
    InvalidInput,
    WholeNumberField,
    csv_lines,
    db,
    delimiter_for,
    get_or_404,
    money_locale,
    plan_limit,
    render_template,
    show_errors,
    staff_required,
)
from plugins.coupons import campaigns, codes, uploads
from plugins.coupons.claims import claim_url, local_today, room_this_month
from plugins.coupons.models import Campaign, Code, Kind

CODES_PER_PAGE = 500  # a campaign's codes on one page of the panel


class CampaignForm(FlaskForm):
    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Give the campaign a name.")), Length(max=80)],
        description=_l(
            "Customers see it in their history: “Coupon %(example)s”.", example="BIENVENIDA2027"
        ),
    )
    points = WholeNumberField(
        _l("Points per claim"),
        validators=[DataRequired(_l("Say how many points a claim gives.")), NumberRange(min=1)],
    )
    starts_on = DateField(_l("Valid from"), validators=[DataRequired(_l("Say from which day."))])
    ends_on = DateField(
        _l("Valid until"),
        validators=[Optional()],
        description=_l("Empty: until you deactivate it."),
    )
    kind = RadioField(
        _l("Codes"),
        choices=[
            SelectChoice(Kind.SINGLE.value, _l("Single-use codes (each claimable once)")),
            SelectChoice(Kind.SHARED.value, _l("One shared code (once per customer)")),
        ],
        default=Kind.SINGLE.value,
    )
    count = WholeNumberField(
        _l("How many single-use codes"),
        validators=[Optional(), NumberRange(min=0, max=campaigns.MAX_CODES)],
        default=100,
    )
    stock = WholeNumberField(
        _l("Stock of the shared code"),
        validators=[Optional(), NumberRange(min=1)],
        description=_l("Claims in all; empty: no limit."),
    )
    code = StringField(
        _l("The shared code"),
        validators=[Optional(), Length(max=30)],
        description=_l("Letters and digits, easy to type; empty: one is drawn for you."),
    )


class UploadForm(FlaskForm):
    file = FileField(
        _l("CSV file of codes"),
        description=_l("Columns: code, and optionally points and expiry. Excel's CSV is fine."),
    )


def make_blueprint() -> Blueprint:
    bp = Blueprint("coupons", __name__, url_prefix="/panel/coupons")
    bp.get("/")(index)
    bp.route("/new", methods=["GET", "POST"])(new)
    bp.get("/<int:campaign_id>")(campaign)
    bp.post("/<int:campaign_id>/deactivate")(deactivate_campaign)
    bp.post("/codes/<int:code_id>/deactivate")(deactivate_code)
    bp.get("/<int:campaign_id>/codes.csv")(codes_csv)
    bp.post("/<int:campaign_id>/upload")(upload)
    return bp


def _may_upload() -> bool:
    return plan_limit(g.tenant, uploads.LIMIT) != 0


@staff_required(*MANAGERS)
def index() -> Any:
    session = db()
    return render_template(
        "coupons/index.html",
        rows=campaigns.campaigns(session),
        room=room_this_month(session, g.tenant),
        Kind=Kind,
    )


@staff_required(*MANAGERS)
def new() -> Any:
    form = CampaignForm()
    if form.validate_on_submit():
        session = db()
        try:
            made = campaigns.create_campaign(
                session,
                g.tenant,
                name=form.name.data,
                points=form.points.data,
                starts_on=form.starts_on.data,
                ends_on=form.ends_on.data,
                kind=form.kind.data,
                count=form.count.data if form.count.data is not None else 0,
                stock=form.stock.data,
                code=form.code.data,
            )
        except InvalidInput as error:
            session.rollback()
            show_errors(form, error, fallback="name")
        else:
            session.commit()
            flash(_("Campaign “%(name)s” created.", name=made.name), "success")
            return redirect(url_for(".campaign", campaign_id=made.id))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "coupons/form.html", form=form, room=room_this_month(db(), g.tenant)
    ), status


@staff_required(*MANAGERS)
def campaign(campaign_id: int) -> Any:
    session = db()
    row = get_or_404(session, Campaign, campaign_id)
    total = campaigns.count_codes(session, row)
    pages = max(1, -(-total // CODES_PER_PAGE))
    page = min(max(request.args.get("page", type=int) or 1, 1), pages)  # past the end: the last
    code_rows = campaigns.code_rows(
        session,
        row,
        local_today(g.tenant),
        limit=CODES_PER_PAGE,
        offset=(page - 1) * CODES_PER_PAGE,
    )
    return render_template(
        "coupons/campaign.html",
        campaign=row,
        codes=code_rows,
        total=total,
        page=page,
        pages=pages,
        claims=campaigns.recent_claims(session, row),
        labels=campaigns.STATUS_LABELS,
        printed=codes.printed,
        url=lambda text: claim_url(g.tenant, text),
        Kind=Kind,
        upload_form=UploadForm() if _may_upload() and row.kind == Kind.SINGLE else None,
    )


@staff_required(*MANAGERS)
def deactivate_campaign(campaign_id: int) -> Any:
    session = db()
    row = get_or_404(session, Campaign, campaign_id)
    campaigns.deactivate_campaign(session, row.id)
    session.commit()
    flash(_("Campaign “%(name)s” deactivated.", name=row.name), "success")
    return redirect(url_for(".campaign", campaign_id=row.id))


@staff_required(*MANAGERS)
def deactivate_code(code_id: int) -> Any:
    session = db()
    code = get_or_404(session, Code, code_id)
    campaigns.deactivate_code(session, code.id)
    session.commit()
    flash(_("Code %(code)s deactivated.", code=codes.printed(code.code)), "success")
    return redirect(url_for(".campaign", campaign_id=code.campaign_id))


@staff_required(*MANAGERS)
def codes_csv(campaign_id: int) -> Any:
    """The campaign's codes with their claim links and status, for a printer or a POS."""
    session = db()
    row = get_or_404(session, Campaign, campaign_id)
    today = local_today(g.tenant)
    header = [_("Code"), _("Claim link"), _("Points"), _("Valid until"), _("Status")]
    lines = csv_lines(
        header,
        [
            [
                codes.printed(item.code.code),
                claim_url(g.tenant, item.code.code),
                item.code.points or row.points,
                (item.code.expires_on or row.ends_on or "").__str__(),
                str(campaigns.STATUS_LABELS[item.status]),
            ]
            for item in campaigns.code_rows(session, row, today, limit=campaigns.MAX_CODES * 10)
        ],
        delimiter=delimiter_for(money_locale()),
    )
    return Response(
        lines,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="coupons-{row.id}.csv"'},
    )


@staff_required(*MANAGERS)
def upload(campaign_id: int) -> Any:
    session = db()
    row = get_or_404(session, Campaign, campaign_id)
    if not _may_upload() or row.kind != Kind.SINGLE:
        flash(_("Your plan does not include uploading codes."), "error")
        return redirect(url_for(".campaign", campaign_id=row.id)), 303
    form = UploadForm()
    if form.validate_on_submit():
        try:
            rows = uploads.accept(session, g.tenant, row, form.file.data, current_user.user)
        except InvalidInput as error:
            session.rollback()
            for message in error.fields.values():
                flash(str(message), "error")
        else:
            session.commit()  # the job starts after the commit
            flash(
                _(
                    "%(rows)d rows received: we are creating the codes and will e-mail you "
                    "the file with each row's result.",
                    rows=rows,
                ),
                "success",
            )
    return redirect(url_for(".campaign", campaign_id=row.id))
