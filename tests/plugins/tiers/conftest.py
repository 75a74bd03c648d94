"""Shared by the tiers' tests: Plata ×1 from 0 and Oro ×1.2 from 500,000 COP, 1 point per
1,000 COP, in a merchant whose plan has the tiers and the recorder; each test module
installs the recorder plugin (it acts only for such a plan)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from core.host.actors import Actor
from core.host.db import clock_at
from core.loyalty.members import Membership
from core.loyalty.program import update_program
from core.loyalty.purchases import record_purchase

CASHIER = Actor.staff(3)
PLATA = {"code": "plata", "name": "Plata", "multiplier": "1", "threshold": "0"}
ORO = {"code": "oro", "name": "Oro", "multiplier": "1.2", "threshold": "500000"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def buy(db, tenant, member_id, amount, at=None):
    """Record a purchase at `at` (default now); returns [(kind, points, label)] and its id."""
    moment = at or datetime.now(UTC)
    with clock_at(moment), db(tenant) as session:
        purchase, entries = record_purchase(
            session, session.get(Membership, member_id), amount, actor=CASHIER
        )
        session.commit()
        return [(e.kind, e.points, e.label) for e in entries], purchase.id


@pytest.fixture
def make_shop(make_tenant, make_plan, db, platform) -> Callable[..., Any]:
    """`make_shop(timezone=…, tiers=[…], **settings)`: a merchant on the "rules" plan with
    those tiers (default Plata and Oro) and tier settings."""
    make_plan("rules", {"tiers", "recorder"})

    def build(
        timezone: str = "America/Bogota", tiers: Sequence[dict] = (PLATA, ORO), **settings: Any
    ):
        tenant = make_tenant(plan="rules", timezone=timezone)
        with db(tenant) as session:
            update_program(session, {"points_per_amount": {"amount": "1000", "points": 1}})
            platform.plugins.save_settings(session, "tiers", {"tiers": list(tiers), **settings})
            session.commit()
        return tenant

    return build
