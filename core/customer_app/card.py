"""A merchant's card in the customer app: the member code in large type and as a QR
(what the cashier scans), the balance, the points that expire soon, what the
merchant's active plugins add (`card_lines`: a tier, a punch card's progress, packs)
and the way to the history.

The QR rotates: the page hands the person's app their membership's live-code secret
(core.loyalty.live_codes; this page alone, over the signed-in session) and
static/app-card.js draws a new QR every 30 seconds from it, offline too. The service
worker keeps the page's last copy, so with no network the card still shows, saying
since when its balance is known ("sin conexión · saldo al 1/12 14:05")."""

from __future__ import annotations

from typing import Any

from babel.dates import format_skeleton
from flask import Blueprint, flash, g, redirect, render_template
from flask_babel import get_timezone
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select, update

from core.customer_app import arrivals
from core.customer_app.expiring import expiring_soon
from core.customer_app.faces import app_url
from core.customer_app.sessions import current_customer, customer_required
from core.host.actors import Actor
from core.host.contributions import SummaryLine
from core.host.db import utcnow
from core.host.errors import PremiaError
from core.host.platform import current_platform
from core.loyalty import joining, live_codes
from core.loyalty.members import Membership
from core.web.cards import qr_code
from core.web.i18n import money_locale
from core.web.request import db

bp = Blueprint("app_card", __name__, url_prefix="/app")


def my_membership() -> Membership | None:
    """The signed-in person's membership of the merchant being served, if any."""
    customer = current_customer()
    if customer is None:
        return None
    return db().scalar(select(Membership).where(Membership.customer_id == customer.id))


def card_lines(member: Membership) -> list[SummaryLine]:
    """What the merchant's active plugins show on the member's card (a tier, a punch
    card's progress); a failing plugin is logged and left out, never breaking the card."""
    results = current_platform().plugins.call(
        g.active_plugins, "card_lines", session=db(), tenant=g.tenant, member=member
    )
    return [line for result in results if result for line in result]


def qr_svg(code: str) -> Markup:
    """The member code's QR as inline SVG (the standard quiet zone of 4 modules, so a
    phone's screen scans at the till as the printed card does)."""
    return Markup(qr_code(code).svg_inline(scale=8, border=4, light="#fff", omitsize=True))


def balance_time() -> str:
    """Now, as the card says since when its balance is known: day, month and time in
    the merchant's time zone and the person's language with the merchant's country."""
    now, zone, locale = utcnow(), get_timezone(), money_locale()
    day = format_skeleton("dM", now, tzinfo=zone, locale=locale)
    return f"{day} {format_skeleton('Hm', now, tzinfo=zone, locale=locale)}"


def live_secret(member: Membership) -> str:
    """The membership's live-code secret, drawn the first time the card shows. Written
    only where none is yet, so two first views at once (two phones) keep the same one."""
    if not member.live_secret:
        session = db()
        session.execute(
            update(Membership)
            .where(Membership.id == member.id, Membership.live_secret.is_(None))
            .values(live_secret=live_codes.new_secret())
        )
        session.commit()
        session.refresh(member)
    return member.live_secret


@bp.get("/")
@customer_required
def home() -> Any:
    member = my_membership()
    if member is None:
        return render_template("app/card.html", member=None, tenant=g.tenant)
    live = {"code": member.code, "secret": live_secret(member), "step": live_codes.STEP}
    return render_template(
        "app/card.html",
        member=member,
        tenant=g.tenant,
        live=live,
        balance_at=balance_time(),
        qr=qr_svg(member.code),
        expiring=expiring_soon(db(), [(member, g.tenant)])[member.id],
        lines=card_lines(member),
    )


@bp.post("/join")
@customer_required
def join() -> Any:
    """A signed-in person who is no member of this merchant yet joins it from its card
    (welcome points once; joining twice changes nothing)."""
    person = current_customer()
    already = my_membership() is not None
    try:
        joining.join(
            db(),
            person,
            joined_via="app",
            actor=Actor.customer(person.id),
            via=arrivals.recalled(g.tenant),
        )
    except PremiaError as error:  # refused: an account not confirmed yet
        flash(str(error.message), "error")
        return redirect(app_url("app_card.home"))
    db().commit()
    if not already:
        flash(_("Welcome to %(name)s!", name=g.tenant.name), "success")
    return redirect(app_url("app_card.home"))
