"""The merchant's referral rules ("referrals" namespace), drawn in Configuración."""

from __future__ import annotations

from decimal import Decimal

import marshmallow as ma
from flask_babel import lazy_gettext as _l

from core.sdk import MAX_AMOUNT, MAX_POINTS_PER_OPERATION

FIRST_EARN = "first_earn"
FIRST_PURCHASE = "first_purchase"


class ReferralSettings(ma.Schema):
    referrer_points = ma.fields.Integer(
        strict=True,
        load_default=100,
        validate=ma.validate.Range(min=1, max=MAX_POINTS_PER_OPERATION),
        metadata={
            "label": _l("Points for the member who invites"),
            "hint": _l("Given once for each friend who becomes a customer."),
        },
    )
    friend_points = ma.fields.Integer(
        strict=True,
        load_default=0,
        validate=ma.validate.Range(min=0, max=MAX_POINTS_PER_OPERATION),
        metadata={
            "label": _l("Points for the invited friend"),
            "hint": _l("0: none. Given with the inviter's, beyond the welcome points."),
        },
    )
    pays_on = ma.fields.String(
        load_default=FIRST_EARN,
        validate=ma.validate.OneOf((FIRST_EARN, FIRST_PURCHASE)),
        metadata={
            "label": _l("The points are given"),
            "choices": {
                FIRST_EARN: _l(
                    "When the friend earns points for the first time (welcome points do not count)"
                ),
                FIRST_PURCHASE: _l(
                    "When the friend makes a first purchase of at least the amount below"
                ),
            },
        },
    )
    min_purchase = ma.fields.Decimal(
        as_string=True,
        load_default=Decimal(0),
        validate=ma.validate.Range(
            min=Decimal(0),
            max=MAX_AMOUNT,
            error=_l("An amount goes from zero to 9,999,999,999.99."),
        ),
        metadata={"label": _l("Minimum purchase of the friend")},
    )
    monthly_cap = ma.fields.Integer(
        strict=True,
        load_default=10,
        validate=ma.validate.Range(min=1, max=1000),
        metadata={
            "label": _l("Paid referrals per member and month, at most"),
            "hint": _l("Friends beyond it that month give no points."),
        },
    )
    return_days = ma.fields.Integer(
        strict=True,
        load_default=30,
        validate=ma.validate.Range(min=0, max=365),
        metadata={
            "label": _l("Days to return a purchase"),
            "hint": _l(
                "If the friend's paying purchase is returned within them, "
                "the referral points are taken back."
            ),
        },
    )
