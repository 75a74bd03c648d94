"""Referidos in the panel (managers): who brought whom, when, paid or pending and why
not, and per inviter the points their friends earned since they joined."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from core.sdk import MANAGERS, reading_db, render_template, staff_required
from plugins.referrals import referrals
from plugins.referrals.models import Status


def make_blueprint() -> Blueprint:
    bp = Blueprint("referrals", __name__, url_prefix="/panel/referrals")
    bp.get("/")(index)
    return bp


@staff_required(*MANAGERS)
def index() -> Any:
    session = reading_db()  # a report: on the replica when there is one
    rows = referrals.all_referrals(session)
    totals = referrals.friends_points(session)
    inviters = {referrer.id: referrer for _r, referrer, _f in rows}
    ranking = sorted(
        (
            (inviters[rid], friends, points)
            for rid, (friends, points) in totals.items()
            if rid in inviters
        ),
        key=lambda row: (-row[2], -row[1], row[0].id),
    )
    return render_template(
        "referrals/index.html",
        rows=rows,
        ranking=ranking,
        reasons=referrals.REASONS,
        Status=Status,
    )
