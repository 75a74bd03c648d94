"""The POS API for the whole till: a sale with its lines, its quote before paying, its
returns, a bill paid in part with points, and a pack used.

Thin endpoints on the API's blueprint over the services every other door calls: the
core's purchases (every active rule, through the plugins' hooks) and the cashback and
packs plugins' own services (as their panel pages call them), so one rule path holds
behind every door. A plugin the merchant has off answers 403 `feature_not_enabled`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import g
from flask.views import MethodView
from flask_babel import lazy_gettext as _l

from core.sdk import (
    Conflict,
    Entry,
    InvalidInput,
    Membership,
    NotFound,
    PremiaError,
    PurchaseItem,
    ReturnedItem,
    db,
    get_member,
    kind_label,
    lock_member_by_code,
    member_at_first_points,
    purchase_by_reference,
    quote_purchase,
    record_purchase,
    return_part,
)
from plugins.api import access
from plugins.api.member_program import active
from plugins.api.till_schemas import (
    PackUseResultSchema,
    PackUseSchema,
    PaymentResultSchema,
    PaymentSchema,
    QuoteResultSchema,
    QuoteSchema,
    ReturnResultSchema,
    ReturnSchema,
    SaleResultSchema,
    SaleSchema,
)
from plugins.api.views import MAX_ID, _location, blp, documented, link
from plugins.cashback import services as cashback
from plugins.packs import packs

SALE_LINKS = {201: {"return_purchase": link("return_purchase", reference="reference")}}


class FeatureOff(PremiaError):
    status = 403
    reason = "feature_not_enabled"


class OverTheCap(Conflict):
    """More points than the merchant's cap lets pay of this bill: the panel's refusal
    (its message states the most this bill allows), a conflict with the merchant's rule
    rather than a malformed request."""

    reason = "over_pay_with_points_cap"


def _require(plugin: str, message: Any) -> None:
    if not active(plugin):
        raise FeatureOff(message)


def _items(fields: dict[str, Any]) -> list[PurchaseItem]:
    return [
        PurchaseItem(
            quantity=line["quantity"],
            unit_price=line["unit_price"],
            sku=line.get("sku"),
            product_group=line.get("product_group"),
        )
        for line in fields.get("lines") or []
    ]


@blp.route("/customers/<string:code>/purchases", tags=["purchases"])
class Purchases(MethodView):
    @access.requires("points:write")
    @blp.arguments(SaleSchema())
    @blp.response(201, SaleResultSchema)
    @documented("record_purchase", 404, 409, body=True, idempotent=True, links=SALE_LINKS)
    def post(self, fields: dict[str, Any], code: str) -> Any:
        """Record a sale with its lines: every active rule applies (the equivalence, tiers,
        cashback; punch cards count the lines), each entry answered with its label.

        A retry with the same `Idempotency-Key` (or, without one, the same `reference`)
        returns the first answer and gives nothing twice. `code` may be a person's personal
        code where the plan makes the first points enrol them, as in `give_points`."""
        session = db()
        try:
            member = lock_member_by_code(session, code)
        except NotFound:
            member = member_at_first_points(session, code, joined_via="api", actor=access.actor())
        purchase, entries = record_purchase(
            session,
            member,
            fields["amount"],
            actor=access.actor(),
            items=_items(fields),
            location_id=_location(fields.get("location_id")),
            reference=fields.get("reference"),
            description=fields.get("description"),
            idempotency_key=g.api_key,
        )
        return {
            "purchase_id": purchase.id,
            "reference": purchase.reference,
            "amount": purchase.amount,
            "points": sum(e.points for e in entries),
            "balance": entries[-1].balance_after if entries else member.balance,
            "entries": entries,
        }


@blp.route("/purchases/quote", tags=["purchases"])
class Quote(MethodView):
    @blp.arguments(QuoteSchema())
    @blp.response(200, QuoteResultSchema)
    @documented("quote_purchase", 404, body=True, idempotent=True)
    def post(self, fields: dict[str, Any]) -> Any:
        """What a sale would earn, and the most of its bill payable with points under the
        merchant's cap, for a customer or not; writes nothing (a till shows it before
        the customer pays)."""
        session = db()
        code = fields.get("customer_code")
        member = get_member(session, code) if code else None
        lines = quote_purchase(
            session,
            member,
            fields["amount"],
            items=_items(fields),
            location_id=_location(fields.get("location_id")),
        )
        payable = value = None
        if active("cashback"):
            settings = cashback.get_settings(session)
            payable = cashback.max_points_for_bill(settings, fields["amount"])
            if member is not None:
                payable = min(payable, member.balance)
            value = (payable * settings["point_value"]).quantize(Decimal("0.01"))
        return {
            "points": sum(line.points for line in lines),
            "lines": [
                {
                    "kind": line.kind,
                    "label": kind_label(line.kind, line.label),
                    "points": line.points,
                }
                for line in lines
            ],
            "balance": member.balance if member is not None else None,
            "max_points_payable": payable,
            "max_amount_payable": value,
        }


@blp.route("/purchases/<string:reference>/returns", tags=["purchases"])
class Returns(MethodView):
    @access.requires("points:write")
    @blp.arguments(ReturnSchema())
    @blp.response(200, ReturnResultSchema)
    @documented("return_purchase", 404, 409, body=True, idempotent=True)
    def post(self, fields: dict[str, Any], reference: str) -> Any:
        """Return a purchase named by its reference, whole (an empty body) or in part
        (`lines` by product code or group, or an `amount`): the points it earned are taken
        back in proportion, as far as the customer still has them; punch cards, tiers and
        referral points follow. 409 `nothing_to_return` for more than is left. Returning
        the whole again changes nothing; a part is made safe to retry by its
        `Idempotency-Key`."""
        session = db()
        purchase = purchase_by_reference(session, reference)
        items = fields.get("lines")
        purchase, part = return_part(
            session,
            purchase,
            actor=access.actor(),
            items=(
                [
                    ReturnedItem(
                        quantity=line["quantity"],
                        sku=line.get("sku"),
                        product_group=line.get("product_group"),
                    )
                    for line in items
                ]
                if items is not None
                else None
            ),
            amount=fields.get("amount"),
            description=fields.get("description"),
            idempotency_key=g.api_key,
        )
        entry = session.get(Entry, part.entry_id) if part is not None and part.entry_id else None
        return {
            "purchase_id": purchase.id,
            "reference": purchase.reference,
            "status": purchase.status,
            "amount_returned": part.amount if part is not None else None,
            "amount_kept": purchase.amount - purchase.returned_amount,
            "points": part.points if part is not None else 0,
            "points_not_recovered": part.points_not_recovered if part is not None else 0,
            "balance": session.get(Membership, purchase.member_id).balance,
            "entry": entry,
        }


@blp.route("/customers/<string:code>/payments", tags=["purchases"])
class Payments(MethodView):
    @access.requires("points:write")
    @blp.arguments(PaymentSchema())
    @blp.response(201, PaymentResultSchema)
    @documented("pay_with_points", 403, 404, 409, body=True, idempotent=True)
    def post(self, fields: dict[str, Any], code: str) -> Any:
        """Pay part of a bill with points under the merchant's cap, as the panel's "Pay
        with points": 409 `over_pay_with_points_cap` above it (the message states the most
        this bill allows), 409 `insufficient_points` beyond the balance, 403
        `feature_not_enabled` where cashback is off."""
        _require("cashback", _l("Paying with points is not enabled for this merchant."))
        session = db()
        member = lock_member_by_code(session, code)
        location_id = _location(fields.get("location_id"))
        try:
            payment = cashback.pay_with_points(
                session,
                member,
                fields["bill_amount"],
                fields["points"],
                actor=access.actor(),
                idempotency_key=g.api_key,
                location_id=location_id,
                reference=fields.get("reference"),
            )
        except InvalidInput as refused:  # the body is valid: the cap refuses its points
            raise OverTheCap(refused.fields["points"], points=refused.fields["points"]) from None
        return {
            "points": payment.points,
            "value": payment.value,
            "to_pay": payment.to_pay,
            "balance": payment.entry.balance_after,
            "entry": payment.entry,
        }


@blp.route("/customers/<string:code>/packs/<int:pack_id>/uses", tags=["purchases"])
class PackUses(MethodView):
    @access.requires("points:write")
    @blp.arguments(PackUseSchema())
    @blp.response(201, PackUseResultSchema)
    @documented("use_pack", 403, 404, 409, body=True, idempotent=True)
    def post(self, fields: dict[str, Any], code: str, pack_id: int) -> Any:
        """Record one use of the customer's pack (409 `pack_used_up` or `pack_expired`),
        as the panel's Packs page; 403 `feature_not_enabled` where packs are off."""
        _require("packs", _l("Packs are not enabled for this merchant."))
        session = db()
        member = get_member(session, code)
        if not 0 < pack_id <= MAX_ID:
            raise NotFound(_l("This customer has no such pack."))
        pack = packs.get_pack(session, pack_id)
        if pack.member_id != member.id:
            raise NotFound(_l("This customer has no such pack."))
        use = packs.use_pack(
            session,
            pack,
            actor=access.actor(),
            location_id=_location(fields.get("location_id")),
            idempotency_key=g.api_key,
        )
        return {"pack": pack, "used_at": use.used_at}


def document(spec: Any) -> None:
    """What a body must be beyond its fields, written into the document: a line names
    a product code or a group; a return names lines, or an amount, or nothing (all)."""
    schemas = spec.components.schemas
    for name in ("SaleLine", "ReturnLine"):
        schemas[name]["anyOf"] = [{"required": ["sku"]}, {"required": ["product_group"]}]
    request = schemas.pop("Return")
    fields = request["properties"]
    common = {"description": fields["description"]}
    for name, field, text in (
        ("ReturnLines", "lines", "Some lines came back."),
        ("ReturnAmount", "amount", "An amount of the bill came back."),
    ):
        schemas[name] = {
            "type": "object",
            "description": text,
            "required": [field],
            "properties": {field: fields[field], **common},
            "additionalProperties": False,
        }
    schemas["ReturnAll"] = {
        "type": "object",
        "description": "All that is left came back.",
        "properties": common,
        "additionalProperties": False,
    }
    schemas["Return"] = {
        "oneOf": [
            {"$ref": "#/components/schemas/ReturnLines"},
            {"$ref": "#/components/schemas/ReturnAmount"},
            {"$ref": "#/components/schemas/ReturnAll"},
        ]
    }
