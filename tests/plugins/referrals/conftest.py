"""The referral tests' merchant (welcome points 50, 1 point per 1,000) and inviter."""

from __future__ import annotations

import pytest

from core.loyalty.program import update_program


@pytest.fixture
def shop(make_tenant, db):
    tenant = make_tenant(slug="cafe", name="Café Central")
    with db(tenant) as session:
        update_program(
            session,
            {"welcome_points": 50, "points_per_amount": {"amount": "1000", "points": 1}},
        )
        session.commit()
    return tenant


@pytest.fixture
def ana(shop, make_member):
    return make_member(shop, email="ana.maria@gmail.com", first_name="Ana")
