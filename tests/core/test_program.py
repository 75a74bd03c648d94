"""Program settings' rules that need no database: the equivalence's arithmetic."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.loyalty.program import points_for_amount, smallest_earning_amount


def program(amount: str, points: int) -> dict:
    return {"points_per_amount": {"amount": amount, "points": points}}


@pytest.mark.parametrize(
    ("amount", "points", "places", "smallest"),
    [
        ("1000", 1, 2, "1000.00"),
        ("1000", 1, 0, "1000"),
        ("1000", 3, 2, "333.34"),
        ("1000", 3, 0, "334"),
        ("2.50", 1, 2, "2.50"),
        ("1", 4, 2, "0.25"),
    ],
)
def test_the_smallest_amount_that_earns_a_point(amount, points, places, smallest):
    rule = program(amount, points)
    found = smallest_earning_amount(rule, places)
    assert found == Decimal(smallest)
    assert points_for_amount(rule, found) >= 1
    below = found - Decimal(1).scaleb(-places)
    assert below <= 0 or points_for_amount(rule, below) == 0


def test_no_equivalence_has_no_smallest_amount():
    assert smallest_earning_amount({"points_per_amount": None}) is None
