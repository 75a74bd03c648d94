"""The merchant's cashback programs and the pay-with-points cap ("cashback" namespace).

    programs   [{"name": "Black Friday", "percent": "5", "starts_on": "2026-11-27",
                 "ends_on": "2026-11-30", "min_purchase": "20000",
                 "savings_threshold": "0", "active": true}, …]
    point_value                  money a point is worth (default 1)
    max_pay_with_points_percent  the most of a bill that points may pay (default 100)

Dates are the tenant's local dates, both included; either may be null (open).
Amounts are in the tenant's currency, with at most two decimals.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import marshmallow as ma
from flask_babel import lazy_gettext as _l

MAX_PROGRAMS = 50
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999.99")


def _amount(**kwargs: Any) -> ma.fields.Decimal:
    return ma.fields.Decimal(
        as_string=True,
        validate=ma.validate.Range(
            min=Decimal(0),
            max=MAX_AMOUNT,
            error=_l("An amount goes from zero to 9,999,999,999.99."),
        ),
        **kwargs,
    )


def _percent(**kwargs: Any) -> ma.fields.Decimal:
    return ma.fields.Decimal(
        as_string=True,
        validate=ma.validate.Range(
            min=Decimal(0),
            max=Decimal(100),
            min_inclusive=False,
            error=_l("A percentage is more than 0 and at most 100."),
        ),
        **kwargs,
    )


def _check_cents(data: dict[str, Any], *fields: str) -> None:
    for field in fields:
        value = data.get(field)
        if value is not None and value != value.quantize(CENT):
            raise ma.ValidationError(_l("At most two decimals."), field)


class CashbackProgramSchema(ma.Schema):
    name = ma.fields.String(
        required=True, validate=ma.validate.Length(min=1, max=60), metadata={"label": _l("Name")}
    )
    percent = _percent(required=True, metadata={"label": _l("Percentage back as points")})
    starts_on = ma.fields.Date(
        load_default=None,
        allow_none=True,
        metadata={"label": _l("From"), "hint": _l("Empty: no start date.")},
    )
    ends_on = ma.fields.Date(
        load_default=None,
        allow_none=True,
        metadata={"label": _l("Until"), "hint": _l("Empty: no end.")},
    )
    min_purchase = _amount(load_default=Decimal(0), metadata={"label": _l("Minimum purchase")})
    savings_threshold = _amount(
        load_default=Decimal(0),
        metadata={
            "label": _l("Minimum savings"),
            "hint": _l("What the customer bought before, to qualify."),
        },
    )
    active = ma.fields.Boolean(load_default=True, metadata={"label": _l("Active")})

    @ma.validates_schema
    def _coherent(self, data: dict[str, Any], **_kwargs: Any) -> None:
        _check_cents(data, "percent", "min_purchase", "savings_threshold")
        if data.get("starts_on") and data.get("ends_on") and data["ends_on"] < data["starts_on"]:
            raise ma.ValidationError(_l("A program cannot end before it starts."), "ends_on")


class CashbackSettings(ma.Schema):
    programs = ma.fields.List(
        ma.fields.Nested(CashbackProgramSchema),
        load_default=list,
        validate=ma.validate.Length(max=MAX_PROGRAMS),
        metadata={"label": _l("Cashback programs"), "item": _l("Program")},
    )
    point_value = ma.fields.Decimal(
        as_string=True,
        load_default=Decimal(1),
        validate=ma.validate.Range(
            min=Decimal(0),
            max=MAX_AMOUNT,
            min_inclusive=False,
            error=_l("A point is worth more than zero."),
        ),
        metadata={"label": _l("Value of one point")},
    )
    max_pay_with_points_percent = _percent(
        load_default=Decimal(100), metadata={"label": _l("Most of a bill payable with points (%)")}
    )

    @ma.validates_schema
    def _coherent(self, data: dict[str, Any], **_kwargs: Any) -> None:
        _check_cents(data, "point_value", "max_pay_with_points_percent")
        names = [p["name"].strip().casefold() for p in data.get("programs") or []]
        if len(set(names)) != len(names):
            raise ma.ValidationError(_l("Each program needs a name of its own."), "programs")
