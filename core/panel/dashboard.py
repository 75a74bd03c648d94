"""Inicio: the panel's landing page with the program's figures."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, render_template
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from core.customers import Membership
from core.ledger import Entry, Kind
from core.panel import menu
from core.panel.access import staff_required
from core.rewards import Redemption, Reward, Status
from core.web import db

menu.register(menu.MenuItem("t.panel.home", _l("Home"), order=10))


def make_blueprint() -> Blueprint:
    bp = Blueprint("panel", __name__, url_prefix="/panel")
    bp.get("/")(home)
    return bp


@staff_required()
def home() -> Any:
    session = db()
    issued, redeemed = session.execute(
        select(
            # A refund gives back what a redemption took: it is neither issued nor redeemed.
            func.coalesce(func.sum(Entry.points).filter(Entry.points > 0,
                                                        Entry.kind != Kind.REFUND), 0),
            func.coalesce(-func.sum(Entry.points).filter(Entry.kind == Kind.REDEEM), 0),
        )
    ).one()
    reversed_ = aliased(Entry)
    redeemed -= session.scalar(
        select(func.coalesce(func.sum(Entry.points), 0))
        .join(reversed_, reversed_.id == Entry.reverses_id)
        .where(Entry.kind == Kind.REFUND, reversed_.kind == Kind.REDEEM)
    )
    figures = {
        "members": session.scalar(select(func.count(Membership.id))),
        "outstanding": session.scalar(select(func.coalesce(func.sum(Membership.balance), 0))),
        "issued": issued,
        "redeemed": redeemed,
        "rewards": session.scalar(select(func.count(Reward.id)).where(Reward.active.is_(True))),
        "pending": session.scalar(
            select(func.count(Redemption.id)).where(Redemption.status == Status.REQUESTED)
        ),
    }
    latest = session.execute(
        select(Entry, Membership)
        .join(Membership, Membership.id == Entry.member_id)
        .order_by(Entry.id.desc())
        .limit(15)
    ).all()
    return render_template("panel/home.html", tenant=g.tenant, figures=figures, latest=latest)
