"""What the till's endpoints accept and answer: a sale with its lines, its quote, its
returns, and the member's program at a glance. The cashback and packs plugins build
their endpoints' bodies of these (a bill paid with points, a pack used): the door gives
this module to them as `Api.schemas`."""

from __future__ import annotations

import re
from decimal import Decimal

import marshmallow as ma
from flask_babel import lazy_gettext as _l

from core.sdk import MAX_AMOUNT
from plugins.api.schemas import (
    CONTROL,
    POINTS,  # noqa: F401  (for the plugins' bodies, through Api.schemas)
    Amount,
    CustomerSchema,
    EntrySchema,
    Schema,
    name,
    text,
)

MAX_LINES = 500
MAX_QUANTITY = 100_000
# A unit price may be zero (a gift line still punches a card).
PRICE_PATTERN = r"^(0|[1-9][0-9]{0,9})(\.[0-9]{1,2})?$"
ID = ma.validate.Range(
    min=1, max=2**31 - 1, error=_l("Must be a whole number from {min} to {max}.")
)
QUANTITY = ma.validate.Range(
    min=1, max=MAX_QUANTITY, error=_l("Must be a whole number from {min} to {max}.")
)
LINES = ma.validate.Length(min=1, max=MAX_LINES, error=_l("Give from {min} to {max} lines."))
# A product code or group: something besides spaces, no control characters.
CODE_PATTERN = rf"^[^{CONTROL}]*[^\s{CONTROL}][^{CONTROL}]*$"


class Price(Amount):
    """A unit price: like an amount, zero allowed."""

    def __init__(self, **kwargs: object) -> None:
        metadata = {
            "anyOf": [
                {"type": "string", "pattern": PRICE_PATTERN},
                {
                    "type": "number",
                    "minimum": 0,
                    "maximum": float(MAX_AMOUNT),
                    "multipleOf": 0.01,
                },
            ],
            **(kwargs.pop("metadata", None) or {}),
        }
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: object, attr: object, data: object, **kwargs: object) -> Decimal:
        if isinstance(value, str) and re.fullmatch(PRICE_PATTERN, value):
            price = Decimal(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            price = Decimal(str(value))
            if not price.is_finite() or not Decimal(0) <= price <= MAX_AMOUNT:
                raise ma.ValidationError(
                    str(_l("Must be zero or more and at most {max}.")).format(max=MAX_AMOUNT)
                )
            if price != price.quantize(Decimal("0.01")):
                raise ma.ValidationError(_l("An amount has at most two decimals."))
        else:
            raise self.make_error("invalid")
        return price.quantize(Decimal("0.01"))


def product_code(**kwargs: object) -> ma.fields.String:
    return name(64, metadata={"pattern": CODE_PATTERN, **kwargs})


class ProductMixin(Schema):
    sku = product_code(description="Your product code.", example="CAFE-AME")
    product_group = product_code(description="Your product group.", example="cafes")

    @ma.validates_schema
    def sku_or_group(self, data: dict, **_kwargs: object) -> None:
        if not (data.get("sku") or data.get("product_group")):
            raise ma.ValidationError(_l("Give a product code or a product group."), "sku")

    @ma.post_load
    def strip_codes(self, data: dict, **_kwargs: object) -> dict:
        return {k: v.strip() if isinstance(v, str) else v for k, v in data.items()}


class SaleLineSchema(ProductMixin):
    quantity = ma.fields.Integer(required=True, strict=True, validate=QUANTITY)
    unit_price = Price(required=True, metadata={"example": "4500"})


class SaleSchema(Schema):
    amount = Amount(
        required=True,
        metadata={"description": "The bill's total in the merchant's currency.", "example": "9000"},
    )
    lines = ma.fields.List(
        ma.fields.Nested(SaleLineSchema),
        validate=LINES,
        metadata={"description": "Line items: punch cards count them."},
    )
    reference = text(
        120,
        allow_none=True,
        metadata={"description": "Your invoice or ticket number.", "example": "F-000124"},
    )
    location_id = ma.fields.Integer(strict=True, allow_none=True, validate=ID)
    description = text(
        500, allow_none=True, metadata={"description": "Internal note, never shown to customers."}
    )


class QuoteSchema(SaleSchema):
    customer_code = text(
        40,
        allow_none=True,
        metadata={
            "description": "The customer's code, if they are one; without it, what a new "
            "customer would earn."
        },
    )


class PointsLineSchema(Schema):
    kind = ma.fields.String(metadata={"description": "earn, tier_bonus, cashback, …"})
    label = ma.fields.String(metadata={"description": "What it is, in the merchant's language."})
    points = ma.fields.Integer()


class QuoteResultSchema(Schema):
    points = ma.fields.Integer(metadata={"description": "Every point the sale would earn."})
    lines = ma.fields.List(ma.fields.Nested(PointsLineSchema))
    balance = ma.fields.Integer(
        allow_none=True, metadata={"description": "The customer's balance now; null: no customer."}
    )
    max_points_payable = ma.fields.Integer(
        allow_none=True,
        metadata={
            "description": "The most points the merchant's cap lets pay of this bill (and, for "
            "a customer, no more than their balance); null: paying with points is off."
        },
    )
    max_amount_payable = Price(
        allow_none=True, metadata={"description": "What those points pay of the bill."}
    )


class SaleResultSchema(Schema):
    purchase_id = ma.fields.Integer()
    reference = ma.fields.String(allow_none=True)
    amount = Amount()
    points = ma.fields.Integer(metadata={"description": "Every point given, all rules included."})
    balance = ma.fields.Integer(metadata={"description": "The balance right after."})
    entries = ma.fields.List(
        ma.fields.Nested(EntrySchema), metadata={"description": "Each entry written, labelled."}
    )


class ReturnLineSchema(ProductMixin):
    quantity = ma.fields.Integer(required=True, strict=True, validate=QUANTITY)


class ReturnSchema(Schema):
    lines = ma.fields.List(
        ma.fields.Nested(ReturnLineSchema),
        validate=LINES,
        metadata={"description": "The lines that came back (by product code or group)."},
    )
    amount = Amount(metadata={"description": "Or an amount of the bill that came back."})
    description = text(500, allow_none=True)

    @ma.validates_schema
    def lines_or_amount(self, data: dict, **_kwargs: object) -> None:
        if "lines" in data and "amount" in data:
            raise ma.ValidationError(_l("Give lines or an amount, not both."), "amount")


class ReturnResultSchema(Schema):
    purchase_id = ma.fields.Integer()
    reference = ma.fields.String(allow_none=True)
    status = ma.fields.String(metadata={"description": "recorded (part kept) or returned."})
    amount_returned = Price(
        allow_none=True,
        metadata={"description": "Money this return gave back; null: nothing was left."},
    )
    amount_kept = Price(metadata={"description": "What is left of the purchase (its spend)."})
    points = ma.fields.Integer(metadata={"description": "Points this return took back."})
    points_not_recovered = ma.fields.Integer(
        metadata={"description": "Points due back but already spent: recorded, never owed."}
    )
    balance = ma.fields.Integer()
    entry = ma.fields.Nested(EntrySchema, allow_none=True)


class PackSchema(Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    uses = ma.fields.Integer()
    uses_left = ma.fields.Integer()
    expires_at = ma.fields.DateTime(allow_none=True)


class PunchCardSchema(Schema):
    name = ma.fields.String()
    count = ma.fields.Integer(metadata={"description": "Punches towards the next prize."})
    size = ma.fields.Integer()


class TierSchema(Schema):
    code = ma.fields.String()
    name = ma.fields.String()
    since = ma.fields.DateTime(allow_none=True)
    spend = Price(metadata={"description": "Qualifying spend this period."})
    next_tier = ma.fields.String(allow_none=True)
    to_next = Price(allow_none=True, metadata={"description": "Spend missing to the next."})


class CustomerDetailSchema(CustomerSchema):
    tier = ma.fields.Nested(
        TierSchema, allow_none=True, metadata={"description": "null: no tier (or tiers off)."}
    )
    punch_cards = ma.fields.List(ma.fields.Nested(PunchCardSchema))
    prizes_waiting = ma.fields.Integer(
        metadata={"description": "Punch-card prizes to hand over at the till."}
    )
    packs = ma.fields.List(
        ma.fields.Nested(PackSchema), metadata={"description": "Usable packs, newest first."}
    )
