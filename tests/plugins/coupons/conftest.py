"""The coupon tests' merchants: Café Central (white-label, Bogotá, welcome points 50)
and another merchant, La Otra; helpers to create a campaign and a customer."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core.host.db import clock_at, platform_session, utcnow
from core.loyalty.members import Customer
from core.loyalty.program import update_program
from plugins.coupons import campaigns

TODAY = datetime.now(ZoneInfo("America/Bogota")).date()  # the café's local day


@pytest.fixture(autouse=True)
def _at_noon_of_today():
    """Every coupon test at noon of TODAY in Bogotá. TODAY is read when the module is
    imported: a suite that crossed the café's midnight (05:00 UTC) wrote codes dated the
    next day while the tests still asked about TODAY's."""
    with clock_at(datetime.combine(TODAY, time(12), tzinfo=ZoneInfo("America/Bogota"))):
        yield


@pytest.fixture
def shop(make_tenant, db, app):
    # Generous claim limits by default; the rate-limit tests lower them.
    app.config.update(
        PREMIA_COUPON_LIMIT="1000 per minute", PREMIA_COUPON_LIMIT_PER_ADDRESS="1000 per minute"
    )
    tenant = make_tenant(slug="cafe", name="Café Central", plan="white-label")
    with db(tenant) as session:
        update_program(session, {"welcome_points": 50})
        session.commit()
    return tenant


@pytest.fixture
def other(make_tenant):
    return make_tenant(slug="otra", name="La Otra", plan="white-label")


@pytest.fixture
def make_campaign(db):
    def build(tenant, **fields):
        values = {
            "name": "BIENVENIDA2027",
            "points": 100,
            "starts_on": TODAY - timedelta(days=1),
            "ends_on": TODAY + timedelta(days=30),
            "kind": "single",
            "count": 3,
            **fields,
        }
        with db(tenant) as session:
            campaign = campaigns.create_campaign(session, tenant, **values)
            session.commit()
            codes = [row.code.code for row in campaigns.code_rows(session, campaign, TODAY)]
            return campaign, codes

    return build


def person(app, email: str, first_name: str = "Bea", language: str | None = None) -> int:
    """A confirmed account of the customer app (no member anywhere yet)."""
    with platform_session(app.extensions["premia"].sessions) as session:
        customer = Customer(
            email=email, first_name=first_name, email_confirmed_at=utcnow(), language=language
        )
        session.add(customer)
        session.commit()
        return customer.id


def customer_in(session, customer_id: int) -> Customer:
    return session.scalar(
        select(Customer).where(Customer.id == customer_id),
        execution_options={"person_lookup": True},
    )
