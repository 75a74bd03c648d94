"""A customer's pending reward request, decided from the panel: Fidelización (the
cashier hands the reward over) and Clientes → a member → Requested rewards.

Confirming or cancelling is idempotent by the request's state: a double tap says
the same again and changes nothing.
"""

from __future__ import annotations

from flask import abort, flash
from flask_babel import format_number, ngettext
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from core.host.actors import Actor
from core.host.errors import NotFound, PremiaError
from core.loyalty.members import Membership
from core.loyalty.rewards import Status, cancel, confirm, get_redemption
from core.web.request import db

MAX_ID = 2**31 - 1


class DecideForm(FlaskForm):
    """Confirm or cancel a request: CSRF only (the request's state makes it idempotent)."""


def decide_request(member: Membership, redemption_id: int, action: str) -> None:
    """Confirm (`action="confirm"`) or cancel `member`'s request and flash the outcome;
    404 for a request that is not this member's, 400 without a valid CSRF token."""
    session = db()
    if not 0 < redemption_id <= MAX_ID:
        abort(404)
    try:
        redemption = get_redemption(session, redemption_id)
    except NotFound:
        abort(404)
    if redemption.member_id != member.id:
        abort(404)
    if not DecideForm().validate_on_submit():
        abort(400)
    done = Status.CONFIRMED if action == "confirm" else Status.CANCELLED
    if redemption.status != done:  # already done (a double tap): say so again
        try:
            (confirm if action == "confirm" else cancel)(
                session, redemption, actor=Actor.staff(current_user.user.id)
            )
            session.commit()
        except PremiaError as error:
            session.rollback()
            flash(str(error.message), "error")
            return
    session.refresh(member)
    name = redemption.reward.name
    if action == "confirm":
        flash(_("Request for %(reward)s confirmed.", reward=name), "success")
    else:
        flash(
            ngettext(
                "Request for %(reward)s cancelled: %(points)s point returned. Balance: %(balance)s",
                "Request for %(reward)s cancelled: %(points)s points returned. "
                "Balance: %(balance)s",
                redemption.points,
                reward=name,
                points=format_number(redemption.points),
                balance=format_number(member.balance),
            ),
            "success",
        )
