"""Notificaciones (managers): what the platform's Firebase set-up lacks, if anything;
compose a push (title, body, image, a page of the app) for all members or a segment,
with the exact number of devices it reaches; send it now or at a local date and time;
edit or cancel it while it waits; the history with each send's delivery report."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, SelectField, StringField, TextAreaField, TimeField
from wtforms.validators import Length, NumberRange, Optional

from core.sdk import (
    MANAGERS,
    PremiaError,
    WholeNumberField,
    active_rewards,
    db,
    enqueue,
    external_url,
    get_or_404,
    render_template,
    show_errors,
    staff_required,
)
from plugins.push import audience, firebase, jobs, sends
from plugins.push.models import Send, SendStatus


class ComposeForm(FlaskForm):
    title = StringField(_l("Title"), validators=[Length(max=sends.TITLE_MAX)])
    body = TextAreaField(_l("Message"), validators=[Length(max=sends.BODY_MAX)])
    image = StringField(
        _l("Image (optional)"),
        validators=[Optional(), Length(max=sends.URL_MAX)],
        description=_l("An https:// address of a picture; phones that can show it do."),
    )
    link = SelectField(_l("Opens"), validate_choice=True)
    segment = SelectField(_l("Segment"), validate_choice=True)
    city = SelectField(_l("Bought in the city"), validate_choice=True)
    expiring = BooleanField(_l("With points expiring this month"))
    birthday_month = BooleanField(_l("Birthday this month"))
    idle_days = WholeNumberField(
        _l("No visit in the last (days)"), validators=[Optional(), NumberRange(1, 3650)]
    )
    min_balance = WholeNumberField(
        _l("Balance of at least"), validators=[Optional(), NumberRange(0, 10**9)]
    )
    local_date = DateField(_l("Date"), validators=[Optional()])
    local_time = TimeField(_l("Time"), validators=[Optional()])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        session, tenant = db(), g.tenant
        self.link.choices = [
            (external_url("t.app_card.home", tenant), _("The card")),
            (external_url("t.app_rewards.catalogue", tenant), _("The rewards")),
        ] + [
            (
                external_url("t.app_rewards.catalogue", tenant) + f"#reward-{reward.id}",
                _("Reward: %(name)s", name=reward.name),
            )
            for reward in active_rewards(session)
        ]
        self.segment.choices = [("", _("All members"))] + [
            (segment.key, str(segment.label)) for segment in audience.segments(session)
        ]
        self.city.choices = [("", _("Any city"))] + [(c, c) for c in audience.cities(session)]

    def audience(self) -> dict[str, Any]:
        return {
            "segment": self.segment.data or None,
            "city": self.city.data or None,
            "expiring": bool(self.expiring.data),
            "birthday_month": bool(self.birthday_month.data),
            "idle_days": self.idle_days.data,
            "min_balance": self.min_balance.data,
        }

    def draft(self) -> sends.Draft:
        return sends.Draft(
            title=self.title.data or "",
            body=self.body.data or "",
            image=(self.image.data or "").strip() or None,
            link=self.link.data or None,
            audience=self.audience(),
            local_date=self.local_date.data,
            local_time=self.local_time.data,
        )

    def fill(self, send: Send, tenant_zone: str) -> None:
        self.title.data, self.body.data = send.title, send.body
        self.image.data, self.link.data = send.image, send.link
        found = send.audience
        self.segment.data, self.city.data = found.get("segment", ""), found.get("city", "")
        self.expiring.data = bool(found.get("expiring"))
        self.birthday_month.data = bool(found.get("birthday_month"))
        self.idle_days.data, self.min_balance.data = (
            found.get("idle_days"),
            found.get("min_balance"),
        )
        if send.send_at is not None:
            local = send.send_at.astimezone(ZoneInfo(tenant_zone))
            self.local_date.data, self.local_time.data = local.date(), local.time()


def make_blueprint() -> Blueprint:
    bp = Blueprint("push", __name__, url_prefix="/panel/push")
    bp.route("/", methods=["GET", "POST"])(index)
    bp.route("/<int:send_id>", methods=["GET", "POST"])(detail)
    bp.post("/<int:send_id>/cancel")(cancel)
    return bp


def _page(form: ComposeForm, reach: int | None, status: int = 200) -> Any:
    session = db()
    history = sends.history(session)
    reports = {send.id: sends.report(session, send) for send in history}
    body = render_template(
        "push/index.html",
        form=form,
        reach=reach,
        setup=firebase.setup(g.tenant),
        history=history,
        reports=reports,
        zone=ZoneInfo(g.tenant.timezone),
        SendStatus=SendStatus,
    )
    return body, status


@staff_required(*MANAGERS)
def index() -> Any:
    session = db()
    form = ComposeForm()
    if not form.is_submitted():
        return _page(form, None)
    if not form.validate():
        return _page(form, None, 422)
    reach = audience.count(session, g.tenant, form.audience())
    if request.form.get("action") != "send":
        return _page(form, reach)  # the count first: staff see whom it reaches
    if not firebase.setup(g.tenant).can_send:
        form.form_errors.append(_("Push notifications are not configured; nothing was sent."))
        return _page(form, reach, 422)
    try:
        send = sends.create(session, g.tenant, form.draft(), current_user.user.id)
    except PremiaError as error:
        session.rollback()
        show_errors(form, error, "local_date")
        return _page(form, reach, 422)
    if send.send_at is None:
        enqueue(session, jobs.start_send, g.tenant.id, send.id)
    session.commit()
    flash(_("Scheduled.") if send.send_at else _("Sending."))
    return redirect(url_for(".detail", send_id=send.id))


@staff_required(*MANAGERS)
def detail(send_id: int) -> Any:
    session = db()
    send = get_or_404(session, Send, send_id)
    if not send.campaign:
        return "", 404
    form = ComposeForm()
    editable = send.status == SendStatus.SCHEDULED and send.send_at is not None
    status = 200
    if form.is_submitted() and editable:
        if form.validate():
            try:
                sends.update(session, g.tenant, send.id, form.draft())
                session.commit()
                flash(_("Saved."))
                return redirect(url_for(".detail", send_id=send.id))
            except PremiaError as error:
                session.rollback()
                show_errors(form, error, "local_date")
        status = 422
    elif form.is_submitted():
        return "", 409
    else:
        form.fill(send, g.tenant.timezone)
    return render_template(
        "push/detail.html",
        send=send,
        form=form,
        editable=editable,
        report=sends.report(session, send),
        reach=audience.count(session, g.tenant, send.audience) if editable else None,
        zone=ZoneInfo(g.tenant.timezone),
        now=datetime.now(ZoneInfo(g.tenant.timezone)),
    ), status


@staff_required(*MANAGERS)
def cancel(send_id: int) -> Any:
    session = db()
    get_or_404(session, Send, send_id)
    try:
        sends.cancel(session, send_id)
    except PremiaError as error:
        session.rollback()
        flash(str(error.message), "error")
        return redirect(url_for(".detail", send_id=send_id))
    session.commit()
    flash(_("Cancelled."))
    return redirect(url_for(".index"))
