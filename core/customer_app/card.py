"""A merchant's card in the customer app: the member code, its QR, the balance."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, render_template
from sqlalchemy import select

from core.customer_app.sessions import current_customer, customer_required
from core.host.contributions import SummaryLine
from core.host.platform import current_platform
from core.loyalty.members import Membership
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


@bp.get("/")
@customer_required
def home() -> Any:
    member = my_membership()
    lines = card_lines(member) if member is not None else []
    return render_template("app/card.html", member=member, tenant=g.tenant, lines=lines)
