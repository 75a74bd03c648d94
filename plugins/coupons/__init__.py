"""Coupons: QR codes worth points. A campaign's single-use codes (generated in the
panel or uploaded as a CSV) or one shared code with a stock; a customer claims one
from the claim page of the merchant's app, which any phone camera opens."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from core.sdk import PlanLimit, PluginInfo
from plugins.coupons import claims, models

PLUGIN = PluginInfo(
    name="coupons",
    sdk_version="1.0",
    title=_l("Coupons"),
    description=_l("QR codes worth points, printed on flyers, packaging or tickets."),
    plans=("free", "white-label"),
    entry_kinds=claims.ENTRY_KINDS,
    limits=(
        PlanLimit(
            "coupons.codes_per_month",
            _l("Coupon codes and shared-code claims per month"),
            seeds={"free": 100, "white-label": None},
        ),
        PlanLimit(
            "coupons.csv_upload",
            _l("Coupon codes per uploaded CSV file (0: no upload)"),
            seeds={"free": 0, "white-label": None},
        ),
    ),
)

__all__ = ["PLUGIN", "models"]
