"""The shared app's merchants: find them by city and join one.

Only the merchants of the shared app are listed (a brand's customers join on its own
domain); joining makes the signed-in person a member with the welcome points, once.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.customer_app import directory
from core.customer_app.sessions import current_customer, customer_required, find_customer
from core.host.actors import Actor
from core.host.db import platform_session, tenant_session
from core.host.errors import NotFound, PremiaError
from core.host.platform import current_platform
from core.loyalty import joining

bp = Blueprint("app_merchants", __name__, url_prefix="/app/merchants")


@bp.get("/")
@customer_required
def index() -> Any:
    city = " ".join((request.args.get("city") or "").split())[:120]
    customer = current_customer()
    with platform_session(current_platform().sessions) as session:
        cities = directory.cities(session)
        merchants = directory.merchants_in(session, city) if city else []
        joined = directory.member_of(session, customer.id, merchants)
    return render_template(
        "app/merchants.html", city=city, cities=cities, merchants=merchants, joined=joined
    )


@bp.post("/<slug>/join")
@customer_required
def join(slug: str) -> Any:
    sessions = current_platform().sessions
    with platform_session(sessions) as session:
        try:
            tenant = directory.shared_merchant(session, slug)
        except NotFound:
            abort(404)
    with tenant_session(sessions, tenant.id) as session:
        person = find_customer(session, current_customer().id)
        already = joining.membership_of(session, person) is not None
        try:
            joining.join(session, person, joined_via="app", actor=Actor.customer(person.id))
        except PremiaError as error:  # refused: an account not confirmed yet
            flash(str(error.message), "error")
            return redirect(url_for(".index", city=request.form.get("city") or None))
        session.commit()
    if already:
        flash(_("You are already a member of %(name)s.", name=tenant.name), "info")
    else:
        flash(_("Welcome to %(name)s!", name=tenant.name), "success")
    return redirect(url_for("t.app_card.home", tenant_slug=tenant.slug))
