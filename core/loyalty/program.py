"""Program settings: how a merchant's loyalty program behaves.

Points equivalence (an amount of money → points, rounding down), the internal
description field on grants, whether employees may give points without a
purchase amount, welcome points, expiry of unused points, whether customers
may request a reward from their app, and above how many points a grant in the
panel must be confirmed.

The rules a grant follows are here too (`kept_description`, `may_give_points`), so
that every door (the panel, the POS API, later CSV import and coupons) applies
them through the same commands (`purchases.record_purchase`, `purchases.give_points`)
instead of each view keeping habits of its own.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import marshmallow as ma
from dateutil.relativedelta import relativedelta
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from core.host.errors import InvalidInput, PointsLimit
from core.host.settings import load_settings, save_settings

NAMESPACE = "program"
MAX_POINTS_PER_OPERATION = 1_000_000_000  # far beyond any real purchase; refuses typos
LARGE_GRANT_POINTS = 10_000  # the default above which the panel asks to confirm a grant


class EquivalenceSchema(ma.Schema):
    amount = ma.fields.Decimal(
        required=True, as_string=True, validate=ma.validate.Range(min=0, min_inclusive=False)
    )
    points = ma.fields.Integer(required=True, strict=True, validate=ma.validate.Range(min=1))


class ProgramSchema(ma.Schema):
    points_per_amount = ma.fields.Nested(EquivalenceSchema, allow_none=True, load_default=None)
    description_field = ma.fields.Boolean(load_default=True)
    # With an equivalence, whether employees may also give points without a purchase
    # amount; owners and admins always may. Off by default: the cashier types the sale.
    employees_give_points = ma.fields.Boolean(load_default=False)
    welcome_points = ma.fields.Integer(
        strict=True,
        validate=ma.validate.Range(min=0, max=MAX_POINTS_PER_OPERATION),
        load_default=0,
    )
    expiry_months = ma.fields.Integer(
        strict=True,
        allow_none=True,
        validate=ma.validate.Range(min=1, max=120),
        load_default=None,
    )
    customer_redemption_requests = ma.fields.Boolean(load_default=False)
    # Redemptions at the till only with the app's live QR (core.loyalty.live_codes), not
    # the static code a photo or a printed card carries. Off by default.
    live_code_for_redemptions = ma.fields.Boolean(load_default=False)
    # A grant of more points than this, in the panel, asks the employee to confirm it
    # (a typo of 1,000,000 for 100 is one click otherwise); None: never ask. The POS
    # API does not ask: its grants come from a till's sale, not from a person typing,
    # and a client has nobody to answer a confirmation.
    large_grant_points = ma.fields.Integer(
        strict=True,
        allow_none=True,
        validate=ma.validate.Range(min=1, max=MAX_POINTS_PER_OPERATION),
        load_default=LARGE_GRANT_POINTS,
    )


def get_program(session: Session) -> dict[str, Any]:
    """The tenant's program settings (equivalence, welcome points, expiry…), defaults filled in."""
    return load_settings(session, NAMESPACE, ProgramSchema)


def update_program(session: Session, changes: dict[str, Any]) -> dict[str, Any]:
    """Validate and store changes to the program settings (InvalidInput if refused)."""
    return save_settings(session, NAMESPACE, ProgramSchema(), changes)


def points_for_amount(program: dict[str, Any], amount: Decimal) -> int:
    """floor(amount × points / amount_unit): 1 point per 1,000 COP gives 45 for 45,999."""
    equivalence = program.get("points_per_amount")
    if not equivalence:
        raise InvalidInput(amount=_l("This program has no points equivalence; give points."))
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise InvalidInput(amount=_l("The amount must be greater than zero."))
    raw = amount * equivalence["points"] / Decimal(equivalence["amount"])
    points = int(raw.to_integral_value(rounding=ROUND_FLOOR))
    if points > MAX_POINTS_PER_OPERATION:
        raise PointsLimit(amount=_l("This amount is too large."))
    return points


class PointsByAmountOnly(InvalidInput):
    """Plain points from an employee where the program has employees give by purchase
    amount (`may_give_points`)."""

    reason = "points_by_amount_only"
    message = _l("In this program employees give points by purchase amount.")


def kept_description(program: dict[str, Any], description: str | None) -> str | None:
    """A grant's description as the program keeps it: trimmed, or None when empty or
    when the merchant keeps no notes on grants (the description field is off).

    Dropped, not refused, alike at every door: a till's sale must not start failing
    because the merchant hid a field in the panel."""
    if not program.get("description_field", True) or description is None:
        return None
    return description.strip() or None


def may_give_points(program: dict[str, Any], *, employee: bool) -> bool:
    """Whether points may be given without a purchase amount: always without an
    equivalence (there is no other way), by owners and admins, and by employees only
    when the program lets them (`employees_give_points`)."""
    return (
        not program.get("points_per_amount")
        or not employee
        or program.get("employees_give_points", False)
    )


def is_large_grant(program: dict[str, Any], points: int) -> bool:
    """Whether giving `points` at once needs a confirmation in the panel."""
    threshold = program.get("large_grant_points")
    return threshold is not None and points > threshold


def smallest_earning_amount(program: dict[str, Any], places: int = 2) -> Decimal | None:
    """The smallest amount with `places` decimals (the currency's) that earns a point
    under the equivalence: 1 point per 1,000 → 1,000; 3 points per 1,000 → 333.34
    (334 in a currency without cents). None without an equivalence."""
    equivalence = program.get("points_per_amount")
    if not equivalence:
        return None
    unit = Decimal(equivalence["amount"]) / equivalence["points"]
    return unit.quantize(Decimal(1).scaleb(-places), rounding=ROUND_CEILING)


def expiry_for(program: dict[str, Any], earned_at: datetime) -> datetime | None:
    months = program.get("expiry_months")
    return earned_at + relativedelta(months=months) if months else None
