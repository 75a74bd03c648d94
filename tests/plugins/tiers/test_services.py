"""Tiers from the merchant's side: Plata ×1 from 0, Oro ×1.2 from 500,000 COP a month,
1 point per 1,000 COP. Upgrades at once, returns, period ends, time zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.host.db import clock_at
from core.host.errors import InvalidInput
from core.loyalty import ledger
from core.loyalty.members import Membership
from core.loyalty.purchases import get_purchase, return_part, return_purchase
from plugins.tiers import services
from plugins.tiers.models import TierChange, TierMember
from tests.core import recorder_plugin
from tests.plugins.tiers.conftest import CASHIER, ORO, PLATA, buy, utc

pytestmark = pytest.mark.premia_plugins(recorder_plugin)


@pytest.fixture
def shop(make_shop):
    return make_shop()


def give_back(db, tenant, purchase_id, at=None):
    with clock_at(at or datetime.now(UTC)), db(tenant) as session:
        return_purchase(session, get_purchase(session, purchase_id), actor=CASHIER)
        session.commit()


def tier(db, tenant, member_id):
    with db(tenant) as session:
        status = services.member_tier(session, session.get(Membership, member_id))
        return status.tier.code if status.tier else None


# --- earning by tier -------------------------------------------------------


def test_plata_member_earns_the_equivalence_only(shop, make_member, db):
    member = make_member(shop)
    lines, _ = buy(db, shop, member.id, "45000")
    assert lines == [("earn", 45, None)]
    assert tier(db, shop, member.id) == "plata"


def test_upgrade_at_the_exact_threshold_and_oro_earns_a_labelled_bonus(
    shop, make_member, db, recorder
):
    member = make_member(shop)
    buy(db, shop, member.id, "460000")
    # 460,000 + 40,000 = 500,000 exactly: reached. This purchase still earns at Plata.
    lines, crossing = buy(db, shop, member.id, "40000")
    assert lines == [("earn", 40, None)]
    assert tier(db, shop, member.id) == "oro"
    lines, _ = buy(db, shop, member.id, "45000")
    assert lines == [("earn", 45, None), ("tier_bonus", 9, "Oro ×1,2")]  # 45 + floor(9.0)
    with db(shop) as session:
        assert ledger.audit_member(session, member.id) == (554, 554, 554)  # 460 + 40 + 45 + 9
        changes = session.scalars(select(TierChange)).all()
        assert [(c.from_tier, c.to_tier, c.reason, c.purchase_id) for c in changes] == [
            ("plata", "oro", "purchase", crossing)
        ]
    told = [detail for hook, _slug, detail in recorder.calls if hook == "notify"]
    assert told == [
        (
            "tier_changed",
            member.id,
            {
                "from": "plata",
                "to": "oro",
                "from_name": "Plata",
                "to_name": "Oro",
                "multiplier": "1.2",
                "upgrade": True,
            },
        )
    ]


def test_one_cent_short_of_the_threshold_stays_plata(shop, make_member, db):
    member = make_member(shop)
    buy(db, shop, member.id, "499999.99")
    assert tier(db, shop, member.id) == "plata"
    with db(shop) as session:
        status = services.member_tier(session, session.get(Membership, member.id))
    assert (status.spend, status.next_tier.code, status.to_next) == (
        Decimal("499999.99"),
        "oro",
        Decimal("0.01"),
    )


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("45999", [("earn", 45, None), ("tier_bonus", 9, "Oro ×1,2")]),  # floor(45 × 0.2) = 9
        ("12000", [("earn", 12, None), ("tier_bonus", 2, "Oro ×1,2")]),  # floor(2.4) = 2
        ("4999", [("earn", 4, None)]),  # floor(0.8) = 0: no line
        ("999", []),  # no points at all
    ],
)
def test_tier_bonus_rounds_down(shop, make_member, db, amount, expected):
    member = make_member(shop)
    buy(db, shop, member.id, "500000")
    lines, _ = buy(db, shop, member.id, amount)
    assert lines == expected


def test_label_follows_the_tenant_language(make_shop, make_member, db, platform):
    tenant = make_shop()
    with db(tenant) as session:
        from tenants.models import Tenant

        session.get(Tenant, tenant.id).language = "en"
        session.commit()
    member = make_member(tenant)
    buy(db, tenant, member.id, "500000")
    lines, _ = buy(db, tenant, member.id, "10000")
    assert lines[-1] == ("tier_bonus", 2, "Oro ×1.2")


# --- returns -----------------------------------------------------------------


def test_returning_the_purchase_that_upgraded_goes_back_to_plata(shop, make_member, db, recorder):
    member = make_member(shop)
    buy(db, shop, member.id, "300000")
    _, second = buy(db, shop, member.id, "200000")
    assert tier(db, shop, member.id) == "oro"
    give_back(db, shop, second)
    assert tier(db, shop, member.id) == "plata"
    lines, _ = buy(db, shop, member.id, "10000")
    assert lines == [("earn", 10, None)]
    with db(shop) as session:
        reasons = session.scalars(select(TierChange.reason).order_by(TierChange.id)).all()
    assert reasons == ["purchase", "return"]


def test_a_return_that_leaves_the_threshold_reached_keeps_oro(shop, make_member, db):
    member = make_member(shop)
    _, small = buy(db, shop, member.id, "10000")
    buy(db, shop, member.id, "500000")
    give_back(db, shop, small)
    assert tier(db, shop, member.id) == "oro"


def test_a_part_returned_below_the_threshold_goes_back_to_plata(shop, make_member, db):
    """purchase_partly_returned: the spend kept is what counts."""
    member = make_member(shop)
    _, upgrade = buy(db, shop, member.id, "500000")
    assert tier(db, shop, member.id) == "oro"
    with db(shop) as session:
        return_part(session, get_purchase(session, upgrade), actor=CASHIER, amount="1")
        session.commit()
    assert tier(db, shop, member.id) == "plata"


# --- time zones: the month starts at local midnight of the 1st ----------------


def test_spend_before_local_midnight_belongs_to_the_previous_month(shop, make_member, db):
    # Bogotá is UTC-5: 1 March 00:00 local is 05:00 UTC.
    member = make_member(shop)
    buy(db, shop, member.id, "300000", at=utc(2026, 3, 1, 4, 59, 59))  # 28 Feb, 23:59:59 local
    buy(db, shop, member.id, "200000", at=utc(2026, 3, 1, 5, 0, 0))  # 1 March, 00:00 local
    with clock_at(utc(2026, 3, 1, 6)):
        assert tier(db, shop, member.id) == "plata"

    other = make_member(shop)
    buy(db, shop, other.id, "300000", at=utc(2026, 3, 1, 4, 0))
    buy(db, shop, other.id, "200000", at=utc(2026, 3, 1, 4, 59, 59))
    with clock_at(utc(2026, 3, 1, 4, 59, 59)):
        assert tier(db, shop, other.id) == "oro"


def test_rolling_window_counts_the_last_n_days(make_shop, make_member, db):
    shop = make_shop(period="rolling", rolling_days=30)
    member = make_member(shop)
    start = utc(2026, 5, 10, 15)
    buy(db, shop, member.id, "300000", at=start)
    # 30 days later to the second, the first purchase is still in the window.
    buy(db, shop, member.id, "200000", at=start + timedelta(days=30))
    assert tier(db, shop, member.id) == "oro"

    other = make_member(shop)
    buy(db, shop, other.id, "300000", at=start)
    buy(db, shop, other.id, "200000", at=start + timedelta(days=30, seconds=1))
    with clock_at(start + timedelta(days=30, seconds=2)):
        assert tier(db, shop, other.id) == "plata"


# --- period end ----------------------------------------------------------------


def _row(db, tenant, member_id):
    with db(tenant) as session:
        row = session.scalar(select(TierMember).where(TierMember.member_id == member_id))
        return (row.tier, row.kept)


def test_period_end_keeps_oro_earned_in_the_month_and_downgrades_the_rest(shop, make_member, db):
    earned, lapsed, plain = make_member(shop), make_member(shop), make_member(shop)
    march = utc(2026, 3, 10, 15)
    buy(db, shop, lapsed.id, "600000", at=utc(2026, 2, 10, 15))  # Oro in February
    with clock_at(utc(2026, 3, 1, 5)), db(shop) as session:
        assert services.reevaluate(session, utc(2026, 3, 1, 5)) == 0  # Oro kept for March
        session.commit()
    assert _row(db, shop, lapsed.id) == ("oro", "oro")
    buy(db, shop, lapsed.id, "100000", at=march)  # not enough to keep Oro for April
    buy(db, shop, earned.id, "520000", at=march)  # Oro from March on
    buy(db, shop, plain.id, "20000", at=march)
    april = utc(2026, 4, 1, 5)  # local midnight, 1 April
    with clock_at(april), db(shop) as session:
        assert services.reevaluate(session, april + timedelta(hours=3)) == 1
        session.commit()
    assert _row(db, shop, earned.id) == ("oro", "oro")
    assert _row(db, shop, lapsed.id) == ("plata", "plata")
    assert _row(db, shop, plain.id) == ("plata", "plata")
    with db(shop) as session:
        change = session.scalars(select(TierChange).where(TierChange.reason == "period_end")).one()
        assert (change.member_id, change.from_tier, change.to_tier) == (lapsed.id, "oro", "plata")
        row = session.scalar(select(TierMember).where(TierMember.member_id == lapsed.id))
        assert (row.previous, row.since) == ("oro", april)
        # Run twice: nothing more changes.
        assert services.reevaluate(session, april) == 0


def test_period_end_with_a_purchase_of_the_new_month_already_in(shop, make_member, db):
    member = make_member(shop)
    buy(db, shop, member.id, "600000", at=utc(2026, 3, 10))
    buy(db, shop, member.id, "10000", at=utc(2026, 4, 1, 5, 0, 1))  # the new month's first
    with clock_at(utc(2026, 4, 1, 6)), db(shop) as session:
        assert services.reevaluate(session, utc(2026, 4, 1, 6)) == 0
        session.commit()
    assert _row(db, shop, member.id) == ("oro", "oro")


def test_downgrade_never_keeps_a_tier_for_good(make_shop, make_member, db):
    shop = make_shop(downgrade="never")
    member = make_member(shop)
    _, purchase = buy(db, shop, member.id, "600000", at=utc(2026, 3, 10))
    april = utc(2026, 4, 1, 5)
    with clock_at(april), db(shop) as session:
        assert services.reevaluate(session, april) == 0
        session.commit()
    assert _row(db, shop, member.id) == ("oro", "oro")
    give_back(db, shop, purchase, at=utc(2026, 4, 2))  # the return cannot undo a kept tier
    assert _row(db, shop, member.id) == ("oro", "oro")
    with clock_at(utc(2026, 6, 1, 5)), db(shop) as session:
        assert services.reevaluate(session, utc(2026, 6, 1, 5)) == 0
        session.commit()
    assert tier(db, shop, member.id) == "oro"


def test_dst_month_boundaries_in_madrid(make_shop, make_member, db):
    """Madrid: March starts at 23:00 UTC (CET), April at 22:00 UTC (CEST, from 29 March)."""
    shop = make_shop(timezone="Europe/Madrid")
    inside, outside, april_only = make_member(shop), make_member(shop), make_member(shop)
    buy(db, shop, inside.id, "300000", at=utc(2026, 2, 28, 23, 0))  # 1 March 00:00
    buy(db, shop, inside.id, "200000", at=utc(2026, 3, 31, 21, 59, 59))  # 31 March 23:59:59
    buy(db, shop, outside.id, "300000", at=utc(2026, 2, 28, 22, 30))  # 28 Feb 23:30
    buy(db, shop, outside.id, "200000", at=utc(2026, 3, 31, 21, 0))
    buy(db, shop, april_only.id, "300000", at=utc(2026, 3, 20))
    buy(db, shop, april_only.id, "200000", at=utc(2026, 3, 31, 22, 0))  # 1 April 00:00
    assert _row(db, shop, inside.id)[0] == "oro"  # March alone reached 500,000
    assert _row(db, shop, outside.id)[0] == "plata"  # 300,000 was February's
    assert _row(db, shop, april_only.id)[0] == "plata"  # 200,000 is April's
    as_of = utc(2026, 3, 31, 22, 30)
    with clock_at(as_of), db(shop) as session:
        assert services.period_bounds(shop, services.get_settings(session), as_of)[:2] == (
            utc(2026, 2, 28, 23),
            utc(2026, 3, 31, 22),
        )
        assert services.reevaluate(session, as_of) == 0
        session.commit()
    assert _row(db, shop, inside.id) == ("oro", "oro")
    assert _row(db, shop, outside.id) == ("plata", "plata")
    assert _row(db, shop, april_only.id) == ("plata", "plata")


def test_rolling_period_end_drops_spend_older_than_the_window(make_shop, make_member, db):
    shop = make_shop(period="rolling", rolling_days=7)
    member = make_member(shop)
    buy(db, shop, member.id, "500000", at=utc(2026, 5, 1, 12))
    with db(shop) as session:
        assert services.reevaluate(session, utc(2026, 5, 8, 11)) == 0  # still within 7 days
        session.commit()
        assert services.reevaluate(session, utc(2026, 5, 8, 13)) == 1
        session.commit()
    assert _row(db, shop, member.id) == ("plata", "plata")


def test_reevaluate_touches_only_its_tenant(make_shop, make_member, db):
    first, second = make_shop(), make_shop()
    a, b = make_member(first), make_member(second)
    buy(db, first, a.id, "600000", at=utc(2026, 3, 10))
    buy(db, second, b.id, "600000", at=utc(2026, 3, 10))
    with db(first) as session:
        assert services.reevaluate(session, utc(2026, 5, 1, 5)) == 1
        session.commit()
    assert _row(db, first, a.id) == ("plata", "plata")
    assert _row(db, second, b.id) == ("oro", None)


def test_a_member_without_a_row_holds_what_their_spend_reaches(shop, make_member, db):
    member = make_member(shop)
    with db(shop) as session:
        status = services.member_tier(session, session.get(Membership, member.id))
    assert (status.tier.code, status.since, status.spend) == ("plata", None, Decimal(0))


# --- settings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"tiers": [PLATA, {**ORO, "code": "plata"}]}, "tiers"),
        ({"tiers": [PLATA, {**ORO, "threshold": "0"}]}, "tiers"),
        ({"tiers": [{**ORO, "multiplier": "0.5"}]}, "tiers.0.multiplier"),
        ({"tiers": [{**ORO, "multiplier": "1.205"}]}, "tiers.0.multiplier"),
        ({"tiers": [{**ORO, "code": "Oro Plus"}]}, "tiers.0.code"),
        ({"period": "week"}, "period"),
        ({"rolling_days": 0}, "rolling_days"),
        ({"downgrade": "sometimes"}, "downgrade"),
    ],
)
def test_settings_refuse_nonsense(shop, db, platform, changes, field):
    with db(shop) as session, pytest.raises(InvalidInput) as refused:
        platform.plugins.save_settings(session, "tiers", changes)
    assert field in refused.value.fields


def test_settings_are_json_and_sorted_by_threshold(shop, db, platform):
    with db(shop) as session:
        saved = platform.plugins.save_settings(session, "tiers", {"tiers": [ORO, PLATA]})
        assert [t["code"] for t in saved["tiers"]] == ["plata", "oro"]
        assert saved["tiers"][1]["multiplier"] == Decimal("1.2")
        assert (saved["period"], saved["rolling_days"], saved["downgrade"]) == (
            "month",
            30,
            "period_end",
        )
