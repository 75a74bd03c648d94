"""Audiences: every condition must hold; a tier through the tiers plugin's
`member_segments`; the count is exact (devices of people who want news on their phone)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from core.host.actors import Actor
from core.host.db import clock_at
from core.loyalty import ledger
from core.loyalty.locations import create_location
from core.loyalty.members import Customer, Membership
from core.loyalty.program import update_program
from core.loyalty.purchases import record_purchase
from core.sdk import Tenant
from plugins.push import audience
from plugins.tiers.models import TierMember

PLATA = {"code": "plata", "name": "Plata", "multiplier": "1", "threshold": "0"}
ORO = {"code": "oro", "name": "Oro", "multiplier": "1.2", "threshold": "500000"}


def buy(db, tenant, member, amount, location_id=None):
    with db(tenant) as session:
        record_purchase(
            session,
            session.get(Membership, member.id),
            amount,
            actor=Actor.system(),
            location_id=location_id,
        )
        session.commit()


def count(db, tenant, **conditions) -> int:
    with db(tenant) as session:
        return audience.count(session, session.get(Tenant, tenant.id), conditions)


def test_each_condition_narrows_the_audience(db, platform, shop, make_member, add_devices):
    with db(shop) as session:
        update_program(session, {"points_per_amount": {"points": 1, "amount": 1000}})
        platform.plugins.save_settings(session, "tiers", {"tiers": [PLATA, ORO]})
        centro = create_location(session, name="Centro", city="Bogotá").id
        norte = create_location(session, name="Norte", city="Medellín").id
        session.commit()
    now = datetime(2026, 12, 5, 15, tzinfo=UTC)
    with clock_at(datetime(2026, 9, 1, tzinfo=UTC)):
        ana = make_member(shop, birthday=date(1990, 12, 20))
        bea = make_member(shop, birthday=date(1985, 3, 2))
        caro = make_member(shop)
        buy(db, shop, ana, 600000, centro)  # Oro, and her points expire
    with clock_at(datetime(2026, 11, 20, tzinfo=UTC)):
        buy(db, shop, bea, 20000, norte)
    add_devices(shop, ana, "ana-phone", "ana-laptop")
    add_devices(shop, bea, "bea-phone")
    add_devices(shop, caro, "caro-phone")
    with db(shop) as session:
        assert (
            session.scalar(
                TierMember.__table__.select()
                .with_only_columns(TierMember.tier)
                .where(TierMember.member_id == ana.id)
            )
            == "oro"
        )
    with clock_at(now):
        assert count(db, shop) == 4
        assert count(db, shop, segment="tiers:oro") == 2
        assert count(db, shop, segment="tiers:plata") == 2  # no spend yet holds Plata too
        assert count(db, shop, segment="tiers:gone") == 0  # a segment no plugin offers
        assert count(db, shop, city="Bogotá") == 2
        assert count(db, shop, city="Medellín") == 1
        assert count(db, shop, birthday_month=True) == 2
        assert count(db, shop, idle_days=30) == 3  # Ana (September) and Caro (never)
        assert count(db, shop, min_balance=100) == 2
        assert count(db, shop, segment="tiers:oro", city="Medellín") == 0
        with db(shop) as session:
            options = {s.key: str(s.label) for s in audience.segments(session)}
        assert options == {"tiers:plata": "Plata", "tiers:oro": "Oro"}


def test_points_expiring_this_month(db, shop, make_member, add_devices):
    with db(shop) as session:
        update_program(session, {"expiry_months": 3})
        session.commit()
    ana, bea = make_member(shop), make_member(shop)
    for member, when in (
        (ana, datetime(2026, 9, 10, tzinfo=UTC)),
        (bea, datetime(2026, 10, 10, tzinfo=UTC)),
    ):
        with clock_at(when), db(shop) as session:
            ledger.earn(
                session, ledger.lock_member(session, member.id), points=50, actor=Actor.system()
            )
            session.commit()
    add_devices(shop, ana, "ana-1")
    add_devices(shop, bea, "bea-1")
    with clock_at(datetime(2026, 12, 5, 15, tzinfo=UTC)):
        assert count(db, shop, expiring=True) == 1


def test_people_who_want_no_news_on_their_phone_are_not_counted(
    db, platform, shop, make_member, add_devices
):
    ana, bea = make_member(shop), make_member(shop)
    add_devices(shop, ana, "ana-1")
    add_devices(shop, bea, "bea-1")
    with platform.sessions() as session:
        session.get(Customer, bea.customer_id).mail_preferences = {"push:news": False}
        session.commit()
    assert count(db, shop) == 1
