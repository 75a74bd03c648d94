"""The wallets in the customer app: a page with "Add to Apple Wallet" (the signed
`.pkpass` of the person's card here) and "Save to Google Wallet" (Google's save page
with a signed JWT), each only when its keys are configured. Only the signed-in person's
own membership of the merchant being served: there is no id in these URLs."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, g, redirect
from sqlalchemy import select

from core.sdk import Membership, current_customer, customer_required, db, render_template
from plugins.wallet import apple, config, google


def make_blueprint() -> Blueprint:
    bp = Blueprint("wallet_app", __name__, url_prefix="/app/wallet")
    bp.get("/")(index)
    bp.get("/card.pkpass")(apple_pass)
    bp.get("/google")(google_pass)
    return bp


def my_membership() -> Membership | None:
    """The signed-in person's membership of the merchant being served, if any."""
    customer = current_customer()
    if customer is None:
        return None
    return db().scalar(select(Membership).where(Membership.customer_id == customer.id))


def _member_or_404() -> Membership:
    member = my_membership()
    if member is None:
        abort(404)
    return member


@customer_required
def index() -> Any:
    if not config.offered():
        abort(404)
    member = _member_or_404()
    return render_template(
        "wallet/index.html",
        member=member,
        apple=config.apple() is not None,
        google=config.google() is not None,
    )


@customer_required
def apple_pass() -> Any:
    keys = config.apple()
    if keys is None:
        abort(404)
    member = _member_or_404()
    response = Response(apple.build_pass(g.tenant, member, keys), mimetype=apple.MIME_TYPE)
    response.headers["Content-Disposition"] = f'attachment; filename="{g.tenant.slug}.pkpass"'
    # The person's balance at this moment: never kept by a cache on the way.
    response.headers["Cache-Control"] = "no-store"
    return response


@customer_required
def google_pass() -> Any:
    keys = config.google()
    if keys is None:
        abort(404)
    member = _member_or_404()
    response = redirect(google.save_url(g.tenant, member, keys))
    response.headers["Cache-Control"] = "no-store"
    return response
