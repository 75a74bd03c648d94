"""The POS API's `POST /customers/{code}/payments`: part of a bill paid with points under
the merchant's cap, as the panel's "Pay with points" (services.pay_with_points). Served
behind the POS API's door (`Api.add_plugin_endpoints`): the token's tenant only, scope
`points:write`; 403 `feature_not_enabled` where cashback is off for the merchant. Its
bodies are built of the door's own fields (`door.schemas`): no plugin imports another."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint

from core.sdk import Conflict, InvalidInput, db, lock_member_by_code
from plugins.cashback import services

WHEN_OFF = _l("Paying with points is not enabled for this merchant.")


class OverTheCap(Conflict):
    """More points than the merchant's cap lets pay of this bill: the panel's refusal
    (its message states the most this bill allows), a conflict with the merchant's rule
    rather than a malformed request."""

    reason = "over_pay_with_points_cap"


def make_blueprint(door: Any) -> Blueprint:
    """A new blueprint per app, its operations documented as the door's own are."""
    blp = Blueprint("cashback_api", __name__, url_prefix="/api/v1")
    kit = door.schemas

    class PaymentSchema(kit.Schema):
        bill_amount = kit.Amount(required=True, metadata={"example": "90000"})
        points = ma.fields.Integer(required=True, strict=True, validate=kit.POINTS)
        reference = kit.text(120, allow_none=True)
        location_id = ma.fields.Integer(strict=True, allow_none=True, validate=kit.ID)

    class PaymentResultSchema(kit.Schema):
        points = ma.fields.Integer()
        value = kit.Price(metadata={"description": "Money the points paid."})
        to_pay = kit.Price(metadata={"description": "What is left of the bill to pay."})
        balance = ma.fields.Integer()
        entry = ma.fields.Nested(kit.EntrySchema)

    @blp.route("/customers/<string:code>/payments", tags=["purchases"])
    class Payments(MethodView):
        @blp.arguments(PaymentSchema())
        @blp.response(201, PaymentResultSchema)
        @door.documented(
            "pay_with_points", 403, 404, 409, body=True, idempotent=True, blueprint=blp
        )
        def post(self, fields: dict[str, Any], code: str) -> Any:
            """Pay part of a bill with points under the merchant's cap, as the panel's "Pay
            with points": 409 `over_pay_with_points_cap` above it (the message states the most
            this bill allows), 409 `insufficient_points` beyond the balance, 403
            `feature_not_enabled` where cashback is off."""
            session = db()
            member = lock_member_by_code(session, code)
            location_id = door.location(fields.get("location_id"))
            try:
                payment = services.pay_with_points(
                    session,
                    member,
                    fields["bill_amount"],
                    fields["points"],
                    actor=door.actor(),
                    idempotency_key=g.api_key,
                    location_id=location_id,
                    reference=fields.get("reference"),
                )
            except InvalidInput as refused:  # the body is valid: the cap refuses its points
                raise OverTheCap(
                    refused.fields["points"], points=refused.fields["points"]
                ) from None
            return {
                "points": payment.points,
                "value": payment.value,
                "to_pay": payment.to_pay,
                "balance": payment.entry.balance_after,
                "entry": payment.entry,
            }

    return blp
