"""What the API accepts and answers: the contract POS vendors code against.

Field messages are our own translated strings (`errors.py` translates the few
marshmallow defaults left), so a POS gets them in the merchant's language.
"""

from __future__ import annotations

from decimal import Decimal

import marshmallow as ma
from flask_babel import lazy_gettext as _l

from core.program import MAX_POINTS_PER_OPERATION
from core.purchases import MAX_AMOUNT

POINTS = ma.validate.Range(
    min=1, max=MAX_POINTS_PER_OPERATION,
    error=_l("Must be a whole number from {min} to {max}."),
)


def AMOUNT(value: Decimal) -> None:
    """> 0 and at most MAX_AMOUNT (a function: apispec would print a Range's Decimal
    bounds as strings, which OpenAPI refuses)."""
    if not value.is_finite() or not Decimal(0) < value <= MAX_AMOUNT:
        raise ma.ValidationError(
            str(_l("Must be greater than zero and at most {max}.")).format(max=MAX_AMOUNT)
        )


class Text(ma.fields.String):
    """A string without control characters (PostgreSQL refuses NUL in text)."""

    def _deserialize(self, value: object, attr: object, data: object, **kwargs: object) -> str:
        text_value = super()._deserialize(value, attr, data, **kwargs)
        if any(not c.isprintable() for c in text_value.replace("\n", "").replace("\t", "")):
            raise ma.ValidationError(_l("Text cannot contain control characters."))
        return text_value


def text(length: int, **kwargs: object) -> Text:
    return Text(
        validate=ma.validate.Length(max=length, error=_l("At most {max} characters.")), **kwargs
    )


class Schema(ma.Schema):
    class Meta:
        ordered = True


# --- errors --------------------------------------------------------------


class ApiErrorSchema(Schema):
    status = ma.fields.Integer(required=True, metadata={"example": 422})
    reason = ma.fields.String(required=True, metadata={
        "description": "Stable, for machines: invalid, not_found, conflict, "
        "insufficient_points, out_of_stock, idempotency_key_reused, unauthorized, "
        "forbidden, too_many_requests, …", "example": "invalid"})
    message = ma.fields.String(required=True, metadata={
        "description": "For people, in the merchant's language."})
    errors = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()),
        metadata={"description": "Per field, when the input is invalid."},
    )


# --- program -------------------------------------------------------------


class EquivalenceSchema(Schema):
    amount = ma.fields.Decimal(required=True, as_string=True, places=2, validate=AMOUNT,
                               metadata={"example": "1000"})
    points = ma.fields.Integer(required=True, strict=True, validate=POINTS,
                               metadata={"example": 1})


class ProgramSchema(Schema):
    currency = ma.fields.String(dump_only=True, metadata={"example": "COP"})
    points_per_amount = ma.fields.Nested(EquivalenceSchema, allow_none=True, metadata={
        "description": "Points given per amount spent (rounded down); null: points only."})
    welcome_points = ma.fields.Integer(strict=True, validate=ma.validate.Range(
        min=0, max=MAX_POINTS_PER_OPERATION, error=_l("Must be a whole number from {min} to {max}.")
    ))
    expiry_months = ma.fields.Integer(strict=True, allow_none=True, validate=ma.validate.Range(
        min=1, max=120, error=_l("Must be a whole number from {min} to {max}.")
    ), metadata={"description": "Unused points expire this many months after they were "
                 "earned; null: never."})
    description_field = ma.fields.Boolean(metadata={
        "description": "Whether staff see an internal description field when giving points."})
    customer_redemption_requests = ma.fields.Boolean(metadata={
        "description": "Whether customers may request rewards from their app."})


class ProgramPatchSchema(ProgramSchema):
    """The same fields, none required: a PATCH changes what it names."""


# --- customers -----------------------------------------------------------


class CustomerCreateSchema(Schema):
    email = ma.fields.Email(required=True, validate=ma.validate.Length(
        max=254, error=_l("At most {max} characters.")), metadata={"example": "ana@example.com"})
    first_name = text(120, required=True, metadata={"example": "Ana"})
    last_name = text(120, required=True, metadata={"example": "Núñez"})
    document_id = text(40, allow_none=True, metadata={"example": "1020304050"})
    phone = text(40, allow_none=True, metadata={"example": "+57 300 1234567"})
    birthday = ma.fields.Date(allow_none=True, metadata={"example": "1990-05-17"})


class CustomerSchema(Schema):
    code = ma.fields.String(metadata={"description": "What the customer's QR code says."})
    email = ma.fields.String(attribute="customer.email")
    first_name = ma.fields.String(metadata={"description": "As this merchant recorded it."})
    last_name = ma.fields.String(metadata={"description": "As this merchant recorded it."})
    document_id = ma.fields.String(allow_none=True)
    phone = ma.fields.String(allow_none=True)
    birthday = ma.fields.Date(allow_none=True)
    balance = ma.fields.Integer()
    created_at = ma.fields.DateTime()


class CustomerQuerySchema(Schema):
    q = text(200, load_default="", metadata={
        "description": "Code, document, e-mail or name; case- and accent-insensitive."})
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(
        min=1, max=100_000, error=_l("Must be a whole number from {min} to {max}.")))
    page_size = ma.fields.Integer(load_default=20, validate=ma.validate.Range(
        min=1, max=100, error=_l("Must be a whole number from {min} to {max}.")))


class CustomerPageSchema(Schema):
    items = ma.fields.List(ma.fields.Nested(CustomerSchema))
    page = ma.fields.Integer()
    page_size = ma.fields.Integer()
    total = ma.fields.Integer()


# --- points --------------------------------------------------------------


class PointsRequestSchema(Schema):
    points = ma.fields.Integer(strict=True, validate=POINTS, metadata={
        "description": "Points to give; or give `amount` instead."})
    amount = ma.fields.Decimal(validate=AMOUNT, metadata={
        "description": "A purchase amount in the merchant's currency (at most two decimals); "
        "its points follow the program's equivalence and active rules.", "example": "45000"})
    description = text(500, allow_none=True, metadata={
        "description": "Internal note, never shown to the customer."})
    reference = text(120, allow_none=True, metadata={
        "description": "Your document number (invoice, ticket).", "example": "F-000123"})
    location_id = ma.fields.Integer(strict=True, allow_none=True, validate=ma.validate.Range(
        min=1, max=2**31 - 1, error=_l("Must be a whole number from {min} to {max}.")))

    @ma.validates_schema
    def one_of_points_or_amount(self, data: dict, **_kwargs: object) -> None:
        if ("points" in data) == ("amount" in data):
            raise ma.ValidationError(_l("Give either points or amount, not both."), "points")


class PointsResultSchema(Schema):
    entry_id = ma.fields.Integer(allow_none=True, metadata={
        "description": "The first entry written; null when a purchase earned no points."})
    points = ma.fields.Integer(metadata={"description": "Every point given, all rules included."})
    balance = ma.fields.Integer(metadata={"description": "The balance right after."})
    entries = ma.fields.List(ma.fields.Nested(lambda: EntrySchema()))


class EntrySchema(Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String(metadata={
        "description": "earn, welcome, adjust, redeem, refund, expire, return, or a rule's "
        "own kind (tier_bonus, cashback, birthday, …)."})
    label = ma.fields.Method("entry_label", metadata={
        "type": "string", "description": "What the entry is, in the merchant's language."})
    points = ma.fields.Integer(metadata={"description": "Negative for debits."})
    balance_after = ma.fields.Integer()
    description = ma.fields.String(allow_none=True)
    reference = ma.fields.String(allow_none=True)
    location_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.DateTime()

    def entry_label(self, entry: object) -> str:
        from core.ledger import kind_label

        return kind_label(entry.kind, entry.label)


class PageQuerySchema(Schema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(
        min=1, max=100_000, error=_l("Must be a whole number from {min} to {max}.")))
    page_size = ma.fields.Integer(load_default=50, validate=ma.validate.Range(
        min=1, max=200, error=_l("Must be a whole number from {min} to {max}.")))


# --- rewards and redemptions ---------------------------------------------


class RewardSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    name = Text(required=True, validate=ma.validate.Length(
        min=1, max=160, error=_l("From {min} to {max} characters.")),
        metadata={"example": "Café gratis"})
    description = text(2000, allow_none=True)
    points = ma.fields.Integer(required=True, strict=True, validate=POINTS,
                               metadata={"example": 100})
    stock = ma.fields.Integer(required=True, strict=True, allow_none=True,
                              validate=ma.validate.Range(
                                  min=0, max=MAX_POINTS_PER_OPERATION,
                                  error=_l("Must be a whole number from {min} to {max}.")),
                              metadata={"description": "null: unlimited."})
    active = ma.fields.Boolean(load_default=True)


class RewardPatchSchema(Schema):
    name = Text(validate=ma.validate.Length(
        min=1, max=160, error=_l("From {min} to {max} characters.")))
    description = text(2000, allow_none=True)
    points = ma.fields.Integer(strict=True, validate=POINTS)
    stock = ma.fields.Integer(strict=True, allow_none=True, validate=ma.validate.Range(
        min=0, max=MAX_POINTS_PER_OPERATION,
        error=_l("Must be a whole number from {min} to {max}.")))
    active = ma.fields.Boolean()


class RedemptionRequestSchema(Schema):
    reward_id = ma.fields.Integer(required=True, strict=True, validate=ma.validate.Range(
        min=1, max=2**31 - 1, error=_l("Must be a whole number from {min} to {max}.")))
    location_id = ma.fields.Integer(strict=True, allow_none=True, validate=ma.validate.Range(
        min=1, max=2**31 - 1, error=_l("Must be a whole number from {min} to {max}.")))


class RedemptionSchema(Schema):
    id = ma.fields.Integer()
    reward_id = ma.fields.Integer()
    customer_code = ma.fields.String()
    points = ma.fields.Integer()
    balance = ma.fields.Integer(metadata={
        "description": "The customer's balance right after this redemption (or its refund)."})
    status = ma.fields.String(metadata={"description": "requested, confirmed or cancelled."})
    created_at = ma.fields.DateTime()
    decided_at = ma.fields.DateTime(allow_none=True)
