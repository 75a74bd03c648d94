"""The customer app's coupon pages: a code's claim page (what the QR opens), and a
page to type a code (or scan a QR with the phone's camera) and see one's claims.

A visitor who is not signed in is asked to sign in (and comes back here) or to
register: the code is kept as the arrival (`remember_arrival`), so confirming the
e-mail makes them a member and claims it (`member_joined_from_link`). That page says
nothing about the code. A signed-in person's look-ups and claims count against
limits per person and per address whatever their outcome: with 50-bit codes,
nobody finds one by trying.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, g, redirect, request
from flask_babel import gettext as _
from limits import parse
from sqlalchemy import select

from core.sdk import (
    Membership,
    PremiaError,
    app_url,
    current_customer,
    customer_required,
    db,
    remember_arrival,
    render_template,
)
from plugins.coupons import claims, codes
from plugins.coupons.models import Claim

VIA_PREFIX = "coupons:"
PER_PERSON = "PREMIA_COUPON_LIMIT"  # look-ups and claims per person
PER_ADDRESS = "PREMIA_COUPON_LIMIT_PER_ADDRESS"
DEFAULTS = {PER_PERSON: "20 per hour", PER_ADDRESS: "60 per hour"}


def make_blueprint() -> Blueprint:
    bp = Blueprint("coupons_app", __name__, url_prefix="/app/coupon")
    bp.route("/", methods=["GET", "POST"])(index)
    bp.get("/<code>")(claim)
    bp.post("/<code>")(take)
    return bp


def via(code: str) -> str:
    return VIA_PREFIX + code


def code_of(via_text: str) -> str | None:
    return via_text[len(VIA_PREFIX) :] if via_text.startswith(VIA_PREFIX) else None


def _allowed() -> bool:
    """Count one look-up of a code by this person and from this address; False past
    either limit."""
    limiter = current_app.extensions["premia_login_limits"][0]
    customer = current_customer()
    keys = [
        (PER_PERSON, f"premia-coupon|{g.tenant.id}|{customer.id}"),
        (PER_ADDRESS, f"premia-coupon|{request.remote_addr}"),
    ]
    allowed = True
    for setting, key in keys:
        limit = parse(current_app.config.get(setting) or DEFAULTS[setting])
        allowed = limiter.hit(limit, key) and allowed
    return allowed


def _refusal(error: PremiaError, code: str) -> Any:
    return render_template(
        "coupons/claim.html", error=str(error.message), code=code, campaign=None, points=None
    ), error.status


def _too_many(code: str) -> Any:
    message = _("Too many coupon attempts. Wait a while and try again.")
    return render_template(
        "coupons/claim.html", error=message, code=code, campaign=None, points=None
    ), 429


def claim(code: str) -> Any:
    text = codes.normalized(code)
    if current_customer() is None:
        if codes.valid(text):
            remember_arrival(g.tenant, via(text))
        back = request.full_path.rstrip("?")
        return render_template("coupons/visitor.html", back=back)
    if not _allowed():
        return _too_many(text)
    try:
        found, campaign = claims.find_code(db(), text)
        claims.check_claimable(g.tenant, found, campaign, _membership())
    except PremiaError as error:
        return _refusal(error, text)
    return render_template(
        "coupons/claim.html",
        error=None,
        code=text,
        campaign=campaign,
        points=found.points or campaign.points,
    )


@customer_required
def take(code: str) -> Any:
    text = codes.normalized(code)
    if not _allowed():
        return _too_many(text)
    session = db()
    try:
        made = claims.claim(session, g.tenant, current_customer(), text)
    except PremiaError as error:
        session.rollback()
        return _refusal(error, text)
    session.commit()
    flash(_("You earned %(points)d points with the coupon.", points=made.points), "success")
    return redirect(app_url("app_card.home"))


def _membership() -> Membership | None:
    customer = current_customer()
    return db().scalar(select(Membership).where(Membership.customer_id == customer.id))


@customer_required
def index() -> Any:
    """Type a code (or scan its QR): it opens the code's claim page."""
    error = None
    if request.method == "POST":
        typed = request.form.get("code", "")
        # A QR of another site's coupon page read by the scanner: its code, the last part.
        text = codes.normalized(typed.rstrip("/").rsplit("/app/coupon/", 1)[-1])
        if codes.valid(text):
            return redirect(app_url("coupons_app.claim", code=text))
        error = _("Type the code as it is printed on the coupon.")
    member = _membership()
    mine = []
    if member is not None:
        mine = (
            db()
            .scalars(
                select(Claim)
                .where(Claim.member_id == member.id)
                .order_by(Claim.id.desc())
                .limit(20)
            )
            .all()
        )
    return render_template("coupons/app.html", error=error, claims=mine), (422 if error else 200)
