"""The POS API for the till: a sale with its lines, its quote before paying, its returns.

Thin endpoints on the API's blueprint over the core's purchases, the services every
other door calls (every active rule, through the plugins' hooks), so one rule path holds
behind every door. A bill paid with points and a pack used are the cashback and packs
plugins' own endpoints, served behind this API's door (`Api.add_plugin_endpoints`)."""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView

from core.sdk import (
    Entry,
    Membership,
    NotFound,
    PurchaseItem,
    ReturnedItem,
    current_platform,
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
from plugins.api.till_schemas import (
    QuoteResultSchema,
    QuoteSchema,
    ReturnResultSchema,
    ReturnSchema,
    SaleResultSchema,
    SaleSchema,
)
from plugins.api.views import _location, blp, documented, link

SALE_LINKS = {201: {"return_purchase": link("return_purchase", reference="reference")}}


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
        # A plugin's cap (cashback's), for this bill and this customer's balance.
        answer = current_platform().plugins.ask(
            session, "points_payable", amount=fields["amount"], member=member
        )
        payable, value = answer[0] if answer else (None, None)
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
