"""Saludos in the panel (managers): the members greeted."""

from __future__ import annotations

from flask import Blueprint, render_template

from core.sdk import MANAGERS, db, staff_required
from premia_greeting.greetings import greeted


def make_blueprint() -> Blueprint:
    bp = Blueprint("greeting", __name__, url_prefix="/panel/greeting")
    bp.get("/")(index)
    return bp


@staff_required(*MANAGERS)
def index() -> str:
    return render_template("greeting/index.html", greeted=greeted(db()))
