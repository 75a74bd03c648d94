"""A plugin for the isolation tests: app pages with an id in their URL (the person's
reward requests, one request, cancelling one), so that those tests have such routes
to enumerate whatever else exists. `leaky` makes it look requests up by id alone,
forgetting whose they are: the tests must then catch it."""

from __future__ import annotations

from flask import Blueprint, abort, g, redirect
from sqlalchemy import select

from core.sdk import (
    Actor,
    Membership,
    MenuItem,
    PluginInfo,
    Redemption,
    RedemptionStatus,
    app_url,
    cancel_redemption,
    current_customer,
    customer_required,
    db,
    hookimpl,
)

PLUGIN = PluginInfo(name="asks", title="Asks", description="Reward requests, for tests.")
leaky = False


def _theirs():
    mine = select(Membership.id).where(Membership.customer_id == current_customer().id)
    return Redemption.member_id.in_(mine)


def _mine(redemption_id: int) -> Redemption:
    statement = select(Redemption).where(Redemption.id == redemption_id)
    if not leaky:
        statement = statement.where(_theirs())
    redemption = db().scalar(statement)
    if redemption is None:
        abort(404)
    return redemption


@hookimpl
def blueprints() -> list[Blueprint]:
    bp = Blueprint("asks", __name__, url_prefix="/app/asks")

    @bp.get("/")
    @customer_required
    def index() -> str:
        mine = db().scalars(select(Redemption).where(_theirs()))
        return "".join(
            f'<a href="{app_url("asks.show", redemption_id=r.id)}">{r.id}</a>' for r in mine
        )

    @bp.get("/<int:redemption_id>")
    @customer_required
    def show(redemption_id: int) -> str:
        redemption = _mine(redemption_id)
        return (
            f"<p>{db().get(Membership, redemption.member_id).code} {redemption.status}</p>"
            f'<form method="post" action="{app_url("asks.cancel", redemption_id=redemption.id)}">'
            '<button name="go">Cancel</button></form>'
        )

    @bp.post("/<int:redemption_id>/cancel")
    @customer_required
    def cancel(redemption_id: int):
        redemption = _mine(redemption_id)
        if redemption.status == RedemptionStatus.REQUESTED:
            cancel_redemption(db(), redemption, actor=Actor.customer(current_customer().id))
            db().commit()
        return redirect(app_url("asks.index"))

    return [bp]


@hookimpl
def app_menu(tenant):
    return [MenuItem("t.asks.index", f"Asks at {g.tenant.name}", order=60)]
