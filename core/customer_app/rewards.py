"""A merchant's rewards in the customer app: the catalogue with the points each still
needs, a request where the merchant takes them (the points are held until staff
decide), and the person's own requests, which they may withdraw while pending.

The rules are the services' (core.loyalty.rewards); here a form token makes a
request idempotent, so a double tap or a resent form holds the points once.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template
from flask_babel import format_number, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import DataRequired, Regexp

from core.customer_app.card import my_membership
from core.customer_app.faces import app_url
from core.customer_app.menu import register
from core.customer_app.sessions import current_customer, customer_required
from core.host.contributions import MenuItem
from core.host.errors import NotFound, PremiaError
from core.loyalty.members import Membership
from core.loyalty.program import get_program
from core.loyalty.rewards import (
    get_reward,
    offers,
    request_reward,
    requests_of,
    withdraw_request,
)
from core.web.request import db

bp = Blueprint("app_rewards", __name__, url_prefix="/app/rewards")

register(MenuItem("t.app_rewards.catalogue", _l("Rewards"), order=30))
register(MenuItem("t.app_rewards.requests", _l("My requests"), order=35))


class RequestForm(FlaskForm):
    """A request: the token the page gave this form, its idempotency key (CSRF is
    checked app-wide for every POST)."""

    key = HiddenField(validators=[DataRequired(), Regexp(r"^[A-Za-z0-9_-]{16,64}$")])


def _member_or_404() -> Membership:
    member = my_membership()
    if member is None:
        abort(404)
    return member


def _catalogue(member: Membership | None, status: int = 200) -> Any:
    session = db()
    requests_taken = bool(get_program(session)["customer_redemption_requests"])
    # A token per form: a resent form repeats its own request, never another reward's.
    lines = [(offer, secrets.token_urlsafe(16)) for offer in offers(session, member)]
    page = render_template(
        "app/rewards/index.html",
        member=member,
        lines=lines,
        requests_taken=requests_taken,
        tenant=g.tenant,
    )
    return page, status


@bp.get("/")
@customer_required
def catalogue() -> Any:
    return _catalogue(my_membership())


@bp.post("/<int:reward_id>/request")
@customer_required
def request_it(reward_id: int) -> Any:
    member = _member_or_404()
    session = db()
    try:
        reward = get_reward(session, reward_id)
    except NotFound:
        abort(404)
    form = RequestForm()
    if not form.validate_on_submit():
        flash(_("The form expired. Please try again."), "error")
        return _catalogue(member, 400)
    key = f"app:{current_customer().id}:{form.key.data}"
    try:
        redemption = request_reward(session, member, reward, idempotency_key=key)
        session.commit()
    except PremiaError as error:
        session.rollback()  # nothing is held
        flash(str(error.message), "error")
        return _catalogue(my_membership(), error.status)
    flash(
        ngettext(
            "Your request for %(reward)s was sent: %(points)s point is held until "
            "%(merchant)s confirms it.",
            "Your request for %(reward)s was sent: %(points)s points are held until "
            "%(merchant)s confirms it.",
            redemption.points,
            reward=reward.name,
            points=format_number(redemption.points),
            merchant=g.tenant.name,
        ),
        "success",
    )
    return redirect(app_url("app_rewards.requests"))


@bp.get("/requests")
@customer_required
def requests() -> Any:
    member = my_membership()
    found = requests_of(db(), member) if member is not None else []
    return render_template("app/rewards/requests.html", member=member, redemptions=found)


@bp.post("/requests/<int:redemption_id>/withdraw")
@customer_required
def withdraw(redemption_id: int) -> Any:
    member = _member_or_404()
    session = db()
    try:
        redemption = withdraw_request(session, member, redemption_id)
    except NotFound:
        session.rollback()
        abort(404)
    except PremiaError as error:
        session.rollback()
        flash(str(error.message), "error")
        return redirect(app_url("app_rewards.requests"))
    session.commit()
    flash(
        ngettext(
            "Request for %(reward)s cancelled: %(points)s point is back on your card.",
            "Request for %(reward)s cancelled: %(points)s points are back on your card.",
            redemption.points,
            reward=redemption.reward.name,
            points=format_number(redemption.points),
        ),
        "success",
    )
    return redirect(app_url("app_rewards.requests"))
