"""A plugin for tests of purchases: 10% extra on coffee lines, and a log of purchase hooks.

Registered with `make_app(PREMIA_EXTRA_PLUGINS=[bonus_plugin])`; active for a
tenant whose plan names "bonus". Set `refuse` to make `purchase_recorded` raise.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from typing import Any

from core.host.plugins import PluginInfo, hookimpl
from core.loyalty.purchases import PointsLine

PLUGIN = PluginInfo(name="bonus", title="Bonus", description="Coffee bonus for tests.")

calls: list[tuple[str, Any]] = []
refuse = False
extra = 0  # points of an "Extra" line on any purchase, items or not


@hookimpl
def calculate_points(member, purchase, base_points):
    coffee = sum(
        (
            line.unit_price * line.quantity
            for line in purchase.lines
            if line.product_group == "coffee"
        ),
        Decimal(0),
    )
    points = int((coffee / 100).to_integral_value(rounding=ROUND_FLOOR))
    calls.append(("calculate_points", (member.id, base_points)))
    lines = [PointsLine("coffee_bonus", points, f"Coffee bonus ({coffee})")] if points else []
    if extra:
        lines.append(PointsLine("extra_bonus", extra, "Extra"))
    return lines or None


@hookimpl
def purchase_recorded(purchase, entries):
    if refuse:
        raise RuntimeError("refused by the bonus plugin")
    calls.append(("purchase_recorded", (purchase.id, [e.points for e in entries])))


@hookimpl
def purchase_returned(purchase, entry):
    calls.append(("purchase_returned", (purchase.id, entry.points if entry else None)))


@hookimpl
def purchase_partly_returned(purchase, returned, entry):
    calls.append(
        (
            "purchase_partly_returned",
            (purchase.id, returned.amount, returned.lines, entry.points if entry else None),
        )
    )
