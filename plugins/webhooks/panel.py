"""Configuración → Webhooks (owners and admins): the endpoints, a new one (its secret
shown once), and per endpoint its events, on/off, a test event, deletion, and the
delivery log (request, answer's code and first bytes, duration) with re-sends."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField, widgets

from core.sdk import (
    MANAGERS,
    PremiaError,
    db,
    get_or_404,
    render_template,
    show_errors,
    staff_required,
)
from plugins.webhooks import endpoints, jobs, outbox, signing
from plugins.webhooks.events import EVENTS
from plugins.webhooks.models import Endpoint


class EndpointForm(FlaskForm):
    url = StringField(_l("Address (URL)"))
    description = StringField(_l("Description"))
    events = SelectMultipleField(
        _l("Events"),
        choices=[(name, event.label) for name, event in EVENTS.items()],
        widget=widgets.ListWidget(prefix_label=False),
        option_widget=widgets.CheckboxInput(),
        validate_choice=False,  # the service refuses an unknown one, in the user's language
    )


def make_blueprint() -> Blueprint:
    bp = Blueprint("webhooks", __name__, url_prefix="/panel/webhooks")
    bp.route("/", methods=["GET", "POST"])(index)
    bp.route("/<int:endpoint_id>", methods=["GET", "POST"])(detail)
    bp.post("/<int:endpoint_id>/switch")(switch)
    bp.post("/<int:endpoint_id>/test")(test)
    bp.post("/<int:endpoint_id>/delete")(delete)
    bp.post("/<int:endpoint_id>/deliveries/<int:delivery_id>/resend")(resend)
    return bp


def _index(form: EndpointForm, secret: str | None = None, status: int = 200) -> Any:
    return render_template(
        "webhooks/index.html",
        form=form,
        secret=secret,
        endpoints=endpoints.list_all(db()),
        events=EVENTS,
        docs_url="/api/v1/webhooks/openapi.json",
    ), status


@staff_required(*MANAGERS)
def index() -> Any:
    form = EndpointForm()
    if not form.is_submitted():
        return _index(form)
    session = db()
    if not form.validate():
        return _index(form, status=422)
    try:
        endpoint = endpoints.create(
            session, form.url.data or "", form.events.data, form.description.data
        )
    except PremiaError as error:
        session.rollback()
        show_errors(form, error, "url")
        return _index(form, status=422)
    secret = endpoint.secret
    session.commit()
    flash(_("Endpoint created."))
    return _index(EndpointForm(formdata=None), secret=secret)


def _detail(endpoint: Endpoint, form: EndpointForm, status: int = 200) -> Any:
    return render_template(
        "webhooks/detail.html",
        endpoint=endpoint,
        form=form,
        log=endpoints.log(db(), endpoint),
        events=EVENTS,
        zone=ZoneInfo(g.tenant.timezone),
        signature_prefix=signing.PREFIX,
    ), status


@staff_required(*MANAGERS)
def detail(endpoint_id: int) -> Any:
    session = db()
    endpoint = get_or_404(session, Endpoint, endpoint_id)
    form = EndpointForm()
    if not form.is_submitted():
        form = EndpointForm(formdata=None, obj=endpoint)
        return _detail(endpoint, form)
    if not form.validate():
        return _detail(endpoint, form, 422)
    try:
        endpoints.change(
            session,
            endpoint.id,
            url=form.url.data or "",
            events=form.events.data,
            description=form.description.data or "",
        )
    except PremiaError as error:
        session.rollback()
        show_errors(form, error, "url")
        return _detail(get_or_404(session, Endpoint, endpoint_id), form, 422)
    session.commit()
    flash(_("Saved."))
    return redirect(url_for(".detail", endpoint_id=endpoint_id))


@staff_required(*MANAGERS)
def switch(endpoint_id: int) -> Any:

    session = db()
    endpoint = get_or_404(session, Endpoint, endpoint_id)
    on = request.form.get("enabled") == "1"
    endpoints.switch(session, endpoint, on, "staff")
    session.commit()
    flash(_("Endpoint switched on.") if on else _("Endpoint switched off."))
    return redirect(url_for(".detail", endpoint_id=endpoint_id))


@staff_required(*MANAGERS)
def test(endpoint_id: int) -> Any:
    session = db()
    endpoint = get_or_404(session, Endpoint, endpoint_id)
    outbox.send_test(session, endpoint)
    session.commit()
    flash(_("Test event sent; its outcome is in the log below."))
    return redirect(url_for(".detail", endpoint_id=endpoint_id))


@staff_required(*MANAGERS)
def delete(endpoint_id: int) -> Any:
    session = db()
    get_or_404(session, Endpoint, endpoint_id)
    endpoints.delete(session, endpoint_id)
    session.commit()
    flash(_("Endpoint deleted."))
    return redirect(url_for(".index"))


@staff_required(*MANAGERS)
def resend(endpoint_id: int, delivery_id: int) -> Any:
    session = db()
    get_or_404(session, Endpoint, endpoint_id)
    try:
        delivery = endpoints.delivery(session, endpoint_id, delivery_id)
    except PremiaError:
        return "", 404
    jobs.resend(session, delivery)
    session.commit()
    flash(_("Sent again."))
    return redirect(url_for(".detail", endpoint_id=endpoint_id))
