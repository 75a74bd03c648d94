"""The customer app's pages: the member's invite page (their link to copy, share on
WhatsApp or show as a QR, and the friends it brought) and the link's landing page,
which keeps the invitation until the friend joins (`remember_arrival`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import segno
from flask import Blueprint, abort, g, redirect, request
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select

from core.sdk import (
    Membership,
    app_url,
    current_customer,
    customer_required,
    db,
    get_program,
    remember_arrival,
    render_template,
)
from plugins.referrals import referrals
from plugins.referrals.models import Status


def make_blueprint() -> Blueprint:
    bp = Blueprint("referrals_app", __name__, url_prefix="/app/referrals")
    bp.get("/")(index)
    # The link is public by design (it is shared with friends): it names the inviter
    # by their first name only, and another merchant's link answers 404.
    bp.get("/i/<invite>")(landing)
    return bp


def _membership() -> Membership | None:
    customer = current_customer()
    if customer is None:
        return None
    return db().scalar(select(Membership).where(Membership.customer_id == customer.id))


def invite_url(code: str) -> str:
    """The invite link as the member shares it, on the face they see (a brand's domain
    or the merchant's pages of the shared app)."""
    return request.host_url.rstrip("/") + app_url("referrals_app.landing", invite=code)


@customer_required
def index() -> Any:
    member = _membership()
    if member is None:
        return redirect(app_url("app_card.home"))
    code = referrals.invite_code(db(), member)
    db().commit()
    url = invite_url(code)
    message = _("Join me at %(merchant)s and earn points: %(url)s", merchant=g.tenant.name, url=url)
    qr = segno.make(url, error="m").svg_inline(scale=5, border=4, omitsize=True)
    return render_template(
        "referrals/app.html",
        url=url,
        whatsapp="https://wa.me/?text=" + quote(message),
        qr=Markup(qr),
        settings=referrals.get_settings(db()),
        friends=referrals.referrals_of(db(), member),
        Status=Status,
    )


def landing(invite: str) -> Any:
    inviter = referrals.inviter(db(), invite)
    if inviter is None:
        abort(404)
    code = invite.upper()
    remember_arrival(g.tenant, referrals.via(code))
    member = _membership()
    return render_template(
        "referrals/landing.html",
        inviter=inviter,
        own=member is not None and member.id == inviter.id,
        member=member,
        signed_in=current_customer() is not None,
        welcome=get_program(db())["welcome_points"],
        settings=referrals.get_settings(db()),
    )
