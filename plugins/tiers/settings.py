"""The merchant's tiers, as one JSON value per key in the "tiers" namespace.

    tiers      [{"code": "silver", "name": "Plata", "multiplier": "1", "threshold": "0"},
                {"code": "gold", "name": "Oro", "multiplier": "1.2", "threshold": "500000"}]
    period     "month" (calendar month in the tenant's time zone) or "rolling"
    rolling_days   the window of a rolling period, in days (default 30)
    downgrade  "never" or "period_end"

`threshold` is the qualifying spend (money, the tenant's currency) of the
period at which a member reaches the tier; `multiplier` multiplies the
program's points. Stored sorted by threshold. No tiers (the default) means the
plugin does nothing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import marshmallow as ma
from flask_babel import lazy_gettext as _l

PERIODS = ("month", "rolling")
DOWNGRADES = ("never", "period_end")
MAX_TIERS = 10


class TierSchema(ma.Schema):
    code = ma.fields.String(
        required=True,
        validate=ma.validate.Regexp(
            r"^[a-z0-9_-]{1,30}$", error=_l("Use 1 to 30 lower-case letters, digits, - or _.")
        ),
        metadata={"key_from": "name"},  # made from the name; kept when the tier is renamed
    )
    name = ma.fields.String(
        required=True, validate=ma.validate.Length(min=1, max=60), metadata={"label": _l("Name")}
    )
    multiplier = ma.fields.Decimal(
        required=True,
        as_string=True,
        places=None,
        validate=ma.validate.Range(
            min=Decimal(1), max=Decimal(10), error=_l("A multiplier goes from 1 to 10.")
        ),
        metadata={
            "label": _l("Points multiplier"),
            "hint": _l("1: the usual points; 2: twice as many."),
        },
    )
    threshold = ma.fields.Decimal(
        required=True,
        as_string=True,
        validate=ma.validate.Range(
            min=Decimal(0),
            max=Decimal("9999999999.99"),
            error=_l("A threshold is an amount of zero or more."),
        ),
        metadata={
            "label": _l("Spending to reach it"),
            "hint": _l("Bought in the period, in your currency."),
        },
    )

    @ma.validates_schema
    def _decimals(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data["multiplier"] != data["multiplier"].quantize(Decimal("0.01")):
            raise ma.ValidationError(_l("A multiplier has at most two decimals."), "multiplier")
        if data["threshold"] != data["threshold"].quantize(Decimal("0.01")):
            raise ma.ValidationError(_l("An amount has at most two decimals."), "threshold")


class TierSettings(ma.Schema):
    tiers = ma.fields.List(
        ma.fields.Nested(TierSchema),
        load_default=list,
        validate=ma.validate.Length(max=MAX_TIERS),
        metadata={"label": _l("Tiers"), "item": _l("Tier")},
    )
    period = ma.fields.String(
        load_default="month",
        validate=ma.validate.OneOf(PERIODS),
        metadata={
            "label": _l("Qualifying period"),
            "choices": {"month": _l("The calendar month"), "rolling": _l("The last days (below)")},
        },
    )
    rolling_days = ma.fields.Integer(
        strict=True,
        load_default=30,
        validate=ma.validate.Range(min=1, max=366),
        metadata={"label": _l("Days of the rolling window")},
    )
    downgrade = ma.fields.String(
        load_default="period_end",
        validate=ma.validate.OneOf(DOWNGRADES),
        metadata={
            "label": _l("Downgrade"),
            "choices": {
                "never": _l("Never: a member keeps the tier reached"),
                "period_end": _l("At the end of the period, if the member no longer qualifies"),
            },
        },
    )

    @ma.validates_schema
    def _distinct(self, data: dict[str, Any], **_kwargs: Any) -> None:
        tiers = data.get("tiers") or []
        if len({t["code"] for t in tiers}) != len(tiers):
            raise ma.ValidationError(_l("Each tier needs a code of its own."), "tiers")
        if len({t["threshold"] for t in tiers}) != len(tiers):
            raise ma.ValidationError(_l("Two tiers cannot have the same threshold."), "tiers")

    @ma.post_load
    def _sorted(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        data["tiers"] = sorted(data["tiers"], key=lambda t: t["threshold"])
        return data
