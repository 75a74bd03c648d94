"""Novedades in the customer app: the merchant's news items active today, where today
is the merchant's local date (an offer ending on the 5th shows until midnight there)."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint

from core.sdk import current_tenant, customer_required, db, render_template, utcnow
from plugins.news.news import current_news


def make_blueprint() -> Blueprint:
    bp = Blueprint("news_app", __name__, url_prefix="/app/news")
    bp.get("/")(index)
    return bp


def local_today() -> date:
    """Today in the merchant's time zone."""
    return utcnow().astimezone(ZoneInfo(current_tenant().timezone)).date()


@customer_required
def index() -> Any:
    return render_template("news/app.html", items=current_news(db(), local_today()))
