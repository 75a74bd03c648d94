"""What the API accepts and answers: the contract POS vendors code against.

Field messages are our own translated strings (`errors.py` translates the few
marshmallow defaults left), so a POS gets them in the merchant's language.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import marshmallow as ma
from flask_babel import lazy_gettext as _l

from core.sdk import MAX_AMOUNT, MAX_POINTS_PER_OPERATION, kind_label

POINTS = ma.validate.Range(
    min=1,
    max=MAX_POINTS_PER_OPERATION,
    error=_l("Must be a whole number from {min} to {max}."),
)


def AMOUNT(value: Decimal) -> None:
    """> 0 and at most MAX_AMOUNT (a function: apispec would print a Range's Decimal
    bounds as strings, which OpenAPI refuses)."""
    if not value.is_finite() or not Decimal(0) < value <= MAX_AMOUNT:
        raise ma.ValidationError(
            str(_l("Must be greater than zero and at most {max}.")).format(max=MAX_AMOUNT)
        )


# What the schemas refuse, said in the document (patterns as ECMA and Python read them
# alike), so that a client generated from it, or Schemathesis, knows it beforehand.
CONTROL = r"\x00-\x08\x0b-\x1f\x7f-\x9f"  # tab and newline are text
TEXT_PATTERN = rf"^[^{CONTROL}]*$"
# A lone surrogate ("\ud800" in JSON) is no character at all and PostgreSQL cannot store
# it; refused like a control character, though left out of the documented pattern (the
# validators that read it, Rust's among them, cannot express surrogates).
SURROGATE = re.compile(r"[\ud800-\udfff]")
NAME_PATTERN = rf"^[^{CONTROL}]*[^\s{CONTROL}][^{CONTROL}]*$"  # something besides spaces
# A plain decimal number over zero: ASCII digits, no sign, exponent, space or "_", at
# most ten digits before the point (MAX_AMOUNT) and two after it.
AMOUNT_PATTERN = r"^([1-9][0-9]{0,9}(\.[0-9]{1,2})?|0\.([1-9][0-9]?|0[1-9]))$"
FIRST_BIRTHDAY = date(1900, 1, 1)


class Text(ma.fields.String):
    """A string without control characters (PostgreSQL refuses NUL in text)."""

    pattern = TEXT_PATTERN

    def __init__(self, **kwargs: object) -> None:
        metadata = {"pattern": self.pattern, **(kwargs.pop("metadata", None) or {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: object, attr: object, data: object, **kwargs: object) -> str:
        text_value = super()._deserialize(value, attr, data, **kwargs)
        if not re.search(TEXT_PATTERN, text_value) or SURROGATE.search(text_value):
            raise ma.ValidationError(_l("Text cannot contain control characters."))
        return text_value


class Name(Text):
    """A name: text with something besides spaces (kept without the spaces around it)."""

    pattern = NAME_PATTERN

    def _deserialize(self, value: object, attr: object, data: object, **kwargs: object) -> str:
        text_value = super()._deserialize(value, attr, data, **kwargs)
        if not re.search(NAME_PATTERN, text_value):
            raise ma.ValidationError(_l("This field cannot be empty."))
        return text_value


def text(length: int, **kwargs: object) -> Text:
    return Text(
        validate=ma.validate.Length(max=length, error=_l("At most {max} characters.")), **kwargs
    )


def name(length: int, **kwargs: object) -> Name:
    return Name(
        validate=ma.validate.Length(max=length, error=_l("At most {max} characters.")), **kwargs
    )


class Boolean(ma.fields.Boolean):
    """true or false, nothing else (marshmallow would take 0, 1, "yes", "on"…)."""

    def _deserialize(self, value: object, attr: object, data: object, **kwargs: object) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class Amount(ma.fields.Field):
    """Money: a JSON number, or a string of a plain decimal number (`"45000.50"`).

    Decimal() alone would take "1_000", " 100 " and other scripts' digits."""

    default_error_messages = {"invalid": _l("Give the amount as a decimal number.")}

    def __init__(self, **kwargs: object) -> None:
        metadata = {
            "anyOf": [
                {"type": "string", "pattern": AMOUNT_PATTERN},
                {
                    "type": "number",
                    "minimum": 0,
                    "exclusiveMinimum": True,
                    "maximum": float(MAX_AMOUNT),
                    "multipleOf": 0.01,
                },
            ],
            **(kwargs.pop("metadata", None) or {}),
        }
        super().__init__(metadata=metadata, **kwargs)

    def _serialize(self, value: object, attr: object, obj: object, **kwargs: object) -> object:
        return None if value is None else str(Decimal(value).quantize(Decimal("0.01")))

    def _deserialize(self, value: object, attr: object, data: object, **kwargs: object) -> Decimal:
        if isinstance(value, str) and re.fullmatch(AMOUNT_PATTERN, value):
            amount = Decimal(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            amount = Decimal(str(value))  # the number as written: 0.1 is 0.1
            AMOUNT(amount)  # first: quantize() cannot take 1e307
            if amount != amount.quantize(Decimal("0.01")):
                raise ma.ValidationError(_l("An amount has at most two decimals."))
        else:
            raise self.make_error("invalid")
        AMOUNT(amount)
        return amount


class Birthday(ma.fields.Date):
    """A date from 1900 to today (the document says up to last year: it is built once)."""

    def __init__(self, **kwargs: object) -> None:
        last = date.today().year - 1
        years = rf"19[0-9]{{2}}|20[0-{last // 10 % 10 - 1}][0-9]|20{last // 10 % 10}[0-{last % 10}]"
        metadata = {
            "pattern": rf"^({years})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
            "description": "From 1900-01-01 to today.",
            **(kwargs.pop("metadata", None) or {}),
        }
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: object, attr: object, data: object, **kwargs: object) -> date:
        if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            raise self.make_error("invalid")
        day = super()._deserialize(value, attr, data, **kwargs)
        if day < FIRST_BIRTHDAY:
            raise ma.ValidationError(_l("Give a date from 1900 on."))
        return day


class Schema(ma.Schema):
    class Meta:
        ordered = True


@ma.validates_schema
def not_empty(self: ma.Schema, data: dict, **_kwargs: object) -> None:
    """A PATCH names at least one field (an empty one would answer 200 for nothing)."""
    if not data:
        raise ma.ValidationError(_l("Give at least one field to change."))


# --- errors --------------------------------------------------------------


class ApiErrorSchema(Schema):
    status = ma.fields.Integer(required=True, metadata={"example": 422})
    reason = ma.fields.String(
        required=True,
        metadata={
            "description": "Stable, for machines: invalid, not_found, conflict, "
            "insufficient_points, balance_limit, points_limit, out_of_stock, "
            "idempotency_key_reused, unauthorized, "
            "forbidden, too_many_requests, …",
            "example": "invalid",
        },
    )
    message = ma.fields.String(
        required=True, metadata={"description": "For people, in the merchant's language."}
    )
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "Per field, when the input is invalid."},
    )


# --- program -------------------------------------------------------------


class EquivalenceSchema(Schema):
    amount = Amount(required=True, metadata={"example": "1000"})
    points = ma.fields.Integer(required=True, strict=True, validate=POINTS, metadata={"example": 1})


class ProgramSchema(Schema):
    currency = ma.fields.String(dump_only=True, metadata={"example": "COP"})
    points_per_amount = ma.fields.Nested(
        EquivalenceSchema,
        allow_none=True,
        metadata={
            "description": "Points given per amount spent (rounded down); null: points only."
        },
    )
    welcome_points = ma.fields.Integer(
        strict=True,
        validate=ma.validate.Range(
            min=0,
            max=MAX_POINTS_PER_OPERATION,
            error=_l("Must be a whole number from {min} to {max}."),
        ),
    )
    expiry_months = ma.fields.Integer(
        strict=True,
        allow_none=True,
        validate=ma.validate.Range(
            min=1, max=120, error=_l("Must be a whole number from {min} to {max}.")
        ),
        metadata={
            "description": "Unused points expire this many months after they were "
            "earned; null: never."
        },
    )
    description_field = Boolean(
        metadata={
            "description": "Whether staff see an internal description field when giving points."
        }
    )
    customer_redemption_requests = Boolean(
        metadata={"description": "Whether customers may request rewards from their app."}
    )


class ProgramPatchSchema(ProgramSchema):
    """The same fields, none required: a PATCH changes what it names, at least one."""

    not_empty = not_empty


# --- customers -----------------------------------------------------------


class CustomerCreateSchema(Schema):
    email = ma.fields.Email(
        required=True,
        validate=ma.validate.Length(max=254, error=_l("At most {max} characters.")),
        metadata={"example": "ana@example.com"},
    )
    first_name = name(120, required=True, metadata={"example": "Ana"})
    last_name = name(120, required=True, metadata={"example": "Núñez"})
    document_id = text(40, allow_none=True, metadata={"example": "1020304050"})
    phone = text(40, allow_none=True, metadata={"example": "+57 300 1234567"})
    birthday = Birthday(allow_none=True, metadata={"example": "1990-05-17"})

    @ma.post_load
    def strip_names(self, data: dict, **_kwargs: object) -> dict:
        return {
            **data,
            "first_name": data["first_name"].strip(),
            "last_name": data["last_name"].strip(),
        }


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
    q = text(
        200,
        load_default="",
        metadata={"description": "Code, document, e-mail or name; case- and accent-insensitive."},
    )
    page = ma.fields.Integer(
        load_default=1,
        validate=ma.validate.Range(
            min=1, max=100_000, error=_l("Must be a whole number from {min} to {max}.")
        ),
    )
    page_size = ma.fields.Integer(
        load_default=20,
        validate=ma.validate.Range(
            min=1, max=100, error=_l("Must be a whole number from {min} to {max}.")
        ),
    )


class CustomerPageSchema(Schema):
    items = ma.fields.List(ma.fields.Nested(CustomerSchema))
    page = ma.fields.Integer()
    page_size = ma.fields.Integer()
    total = ma.fields.Integer()


# --- points --------------------------------------------------------------


class PointsRequestSchema(Schema):
    points = ma.fields.Integer(
        strict=True,
        validate=POINTS,
        metadata={"description": "Points to give; or give `amount` instead."},
    )
    amount = Amount(
        metadata={
            "description": "A purchase amount in the merchant's currency (at most two decimals); "
            "its points follow the program's equivalence and active rules.",
            "example": "45000",
        }
    )
    description = text(
        500,
        allow_none=True,
        metadata={"description": "Internal note, never shown to the customer."},
    )
    reference = text(
        120,
        allow_none=True,
        metadata={"description": "Your document number (invoice, ticket).", "example": "F-000123"},
    )
    location_id = ma.fields.Integer(
        strict=True,
        allow_none=True,
        validate=ma.validate.Range(
            min=1, max=2**31 - 1, error=_l("Must be a whole number from {min} to {max}.")
        ),
    )

    @ma.validates_schema
    def one_of_points_or_amount(self, data: dict, **_kwargs: object) -> None:
        if ("points" in data) == ("amount" in data):
            raise ma.ValidationError(_l("Give either points or amount, not both."), "points")


class PointsResultSchema(Schema):
    entry_id = ma.fields.Integer(
        allow_none=True,
        metadata={"description": "The first entry written; null when a purchase earned no points."},
    )
    points = ma.fields.Integer(metadata={"description": "Every point given, all rules included."})
    balance = ma.fields.Integer(metadata={"description": "The balance right after."})
    entries = ma.fields.List(ma.fields.Nested(lambda: EntrySchema()))


class EntrySchema(Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String(
        metadata={
            "description": "earn, welcome, adjust, redeem, refund, expire, return, or a rule's "
            "own kind (tier_bonus, cashback, birthday, …)."
        }
    )
    label = ma.fields.Method(
        "entry_label",
        metadata={
            "type": "string",
            "description": "What the entry is, in the merchant's language.",
        },
    )
    points = ma.fields.Integer(metadata={"description": "Negative for debits."})
    balance_after = ma.fields.Integer()
    description = ma.fields.String(allow_none=True)
    reference = ma.fields.String(allow_none=True)
    location_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.DateTime()

    def entry_label(self, entry: object) -> str:
        return kind_label(entry.kind, entry.label)


class PageQuerySchema(Schema):
    page = ma.fields.Integer(
        load_default=1,
        validate=ma.validate.Range(
            min=1, max=100_000, error=_l("Must be a whole number from {min} to {max}.")
        ),
    )
    page_size = ma.fields.Integer(
        load_default=50,
        validate=ma.validate.Range(
            min=1, max=200, error=_l("Must be a whole number from {min} to {max}.")
        ),
    )


# --- rewards and redemptions ---------------------------------------------


class RewardSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    name = name(160, required=True, metadata={"example": "Café gratis"})
    description = text(2000, allow_none=True)
    points = ma.fields.Integer(
        required=True, strict=True, validate=POINTS, metadata={"example": 100}
    )
    stock = ma.fields.Integer(
        required=True,
        strict=True,
        allow_none=True,
        validate=ma.validate.Range(
            min=0,
            max=MAX_POINTS_PER_OPERATION,
            error=_l("Must be a whole number from {min} to {max}."),
        ),
        metadata={"description": "null: unlimited."},
    )
    active = Boolean(load_default=True)

    @ma.post_load
    def strip_name(self, data: dict, **_kwargs: object) -> dict:
        return {**data, "name": data["name"].strip()} if "name" in data else data


class RewardPatchSchema(Schema):
    name = name(160)
    description = text(2000, allow_none=True)
    points = ma.fields.Integer(strict=True, validate=POINTS)
    stock = ma.fields.Integer(
        strict=True,
        allow_none=True,
        validate=ma.validate.Range(
            min=0,
            max=MAX_POINTS_PER_OPERATION,
            error=_l("Must be a whole number from {min} to {max}."),
        ),
    )
    active = Boolean()

    strip_name = RewardSchema.strip_name
    not_empty = not_empty


class RedemptionRequestSchema(Schema):
    reward_id = ma.fields.Integer(
        required=True,
        strict=True,
        validate=ma.validate.Range(
            min=1, max=2**31 - 1, error=_l("Must be a whole number from {min} to {max}.")
        ),
    )
    location_id = ma.fields.Integer(
        strict=True,
        allow_none=True,
        validate=ma.validate.Range(
            min=1, max=2**31 - 1, error=_l("Must be a whole number from {min} to {max}.")
        ),
    )


class RedemptionSchema(Schema):
    id = ma.fields.Integer()
    reward_id = ma.fields.Integer()
    customer_code = ma.fields.String()
    points = ma.fields.Integer()
    balance = ma.fields.Integer(
        metadata={
            "description": "The customer's balance right after this redemption (or its refund)."
        }
    )
    status = ma.fields.String(metadata={"description": "requested, confirmed or cancelled."})
    created_at = ma.fields.DateTime()
    decided_at = ma.fields.DateTime(allow_none=True)


def document_refusals(spec: Any) -> None:
    """What a whole body must be, beyond its fields, written into the document once the
    blueprint's schemas are in it: a PATCH names something, and a points request is
    either a grant of points or a purchase amount (two schemas, so a generated client
    gets a typed model for each)."""
    schemas = spec.components.schemas
    for name in ("ProgramPatch", "RewardPatch"):
        schemas[name]["minProperties"] = 1
    request = schemas.pop("PointsRequest")
    common = {k: v for k, v in request["properties"].items() if k not in {"points", "amount"}}
    for name, field, text in (
        ("PointsGrant", "points", "Points given as such."),
        ("PurchaseAmount", "amount", "A purchase amount: its points follow the program."),
    ):
        schemas[name] = {
            "type": "object",
            "description": text,
            "required": [field],
            "properties": {field: request["properties"][field], **common},
            "additionalProperties": False,
        }
    schemas["PointsRequest"] = {
        "oneOf": [
            {"$ref": "#/components/schemas/PointsGrant"},
            {"$ref": "#/components/schemas/PurchaseAmount"},
        ]
    }


def nullable_nested(_converter: Any, field: ma.fields.Field, ret: dict, **_kwargs: Any) -> dict:
    """A nullable nested schema as `{"allOf": [ref], "nullable": true}`: apispec writes
    `anyOf: [ref, {"type": "object", "nullable": true}]` for OpenAPI 3.0, and that second
    branch lets any object through, `{}` included, which the API refuses."""
    loose = {"type": "object", "nullable": True}
    if field.allow_none and loose in ret.get("anyOf", []):
        ret["allOf"] = [branch for branch in ret.pop("anyOf") if branch != loose]
        ret["nullable"] = True
    return {}
