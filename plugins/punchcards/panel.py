"""A member's punch cards in the panel (any staff): each card's progress ("7 de 10"),
the prizes waiting to be handed over with "Entregar premio", and the last ones handed
over. A prize's state makes handing it over idempotent: a second tap says so."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session

from core.sdk import (
    Actor,
    Membership,
    NotFound,
    PremiaError,
    db,
    get_member,
    get_or_404,
    staff_required,
)
from plugins.punchcards import cards
from plugins.punchcards.cards import PrizeClaimed
from plugins.punchcards.models import Prize, PrizeStatus

HANDED_OVER_SHOWN = 10


class ClaimForm(FlaskForm):
    """Hand a prize over: CSRF only (the prize's state makes it idempotent)."""


def make_blueprint() -> Blueprint:
    bp = Blueprint("punchcards", __name__, url_prefix="/panel/punchcards")
    bp.get("/<code>")(member_cards)
    bp.post("/<code>/prizes/<int:prize_id>/claim")(claim)
    return bp


@staff_required()
def member_cards(code: str) -> Any:
    return _render(db(), _member(code))


@staff_required()
def claim(code: str, prize_id: int) -> Any:
    session = db()
    member = _member(code)
    prize = get_or_404(session, Prize, prize_id)
    if prize.member_id != member.id:
        abort(404)
    if not ClaimForm().validate_on_submit():
        abort(400)
    try:
        cards.claim_prize(
            session,
            prize,
            actor=Actor.staff(current_user.user.id),
            location_id=current_user.user.location_id,
        )
        session.commit()
    except PrizeClaimed:  # a double tap, or another till first: nothing more to do
        session.rollback()
        flash(_("%(prize)s was already handed over.", prize=prize.name), "info")
        return redirect(url_for(".member_cards", code=member.code))
    except PremiaError as error:
        session.rollback()
        flash(str(error.message), "error")
        return redirect(url_for(".member_cards", code=member.code))
    flash(
        _("%(prize)s handed over to %(name)s.", prize=prize.name, name=member.display_name),
        "success",
    )
    return redirect(url_for(".member_cards", code=member.code))


def _member(code: str) -> Membership:
    try:
        return get_member(db(), code)
    except NotFound:
        abort(404)


def _render(session: Session, member: Membership) -> Any:
    prizes = cards.prizes(session, member)
    return render_template(
        "punchcards/member.html",
        member=member,
        progress=cards.progress(session, member),
        waiting=[p for p in prizes if p.status == PrizeStatus.ISSUED],
        handed_over=[p for p in prizes if p.status == PrizeStatus.CLAIMED][:HANDED_OVER_SHOWN],
        claim_form=ClaimForm(formdata=None),
    )
