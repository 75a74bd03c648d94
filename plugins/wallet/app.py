"""The wallets in the customer app: a page with "Add to Apple Wallet" (the signed
`.pkpass` of the person's card here) and "Save to Google Wallet" (Google's save page
with a signed JWT), each only when its keys are configured. Only the signed-in person's
own membership of the merchant being served: there is no id in these URLs. A link
followed where no wallet is configured, or by a person who is no member here, ends on
the page (which says so) or on the card (which offers to join), never on an error."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, redirect
from sqlalchemy import select

from core.sdk import (
    Membership,
    app_url,
    current_customer,
    customer_required,
    db,
    render_template,
)
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


@customer_required
def index() -> Any:
    member = my_membership()
    if member is None:  # the card offers to join
        return redirect(app_url("app_card.home"))
    return render_template(
        "wallet/index.html",
        member=member,
        apple=config.apple() is not None,
        google=config.google() is not None,
    )


@customer_required
def apple_pass() -> Any:
    keys, member = config.apple(), my_membership()
    if keys is None or member is None:
        return redirect(app_url("wallet_app.index"))
    response = Response(apple.build_pass(g.tenant, member, keys), mimetype=apple.MIME_TYPE)
    response.headers["Content-Disposition"] = f'attachment; filename="{g.tenant.slug}.pkpass"'
    # The person's balance at this moment: never kept by a cache on the way.
    response.headers["Cache-Control"] = "no-store"
    return response


@customer_required
def google_pass() -> Any:
    keys, member = config.google(), my_membership()
    if keys is None or member is None:
        return redirect(app_url("wallet_app.index"))
    response = redirect(google.save_url(g.tenant, member, keys))
    response.headers["Cache-Control"] = "no-store"
    return response
