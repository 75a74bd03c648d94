"""Cashback from the merchant's side, in COP: 1 point per 1,000 COP, a point worth 10 COP,
"Clientes frecuentes" 2% from 20,000 COP purchases once 100,000 COP are saved, and Black
Friday 5% from 27 to 30 November; at most 30% of a bill paid with points."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from core.host.actors import Actor
from core.host.db import clock_at
from core.host.errors import IdempotencyMismatch, InsufficientPoints, InvalidInput
from core.loyalty import ledger
from core.loyalty.members import Membership
from core.loyalty.program import update_program
from core.loyalty.purchases import get_purchase, record_purchase, return_part, return_purchase
from plugins.cashback import services
from plugins.cashback.services import pay_with_points

CASHIER = Actor.staff(3)
FRECUENTES = {
    "name": "Clientes frecuentes",
    "percent": "2",
    "min_purchase": "20000",
    "savings_threshold": "100000",
}
BLACK_FRIDAY = {
    "name": "Black Friday",
    "percent": "5",
    "starts_on": "2026-11-27",
    "ends_on": "2026-11-30",
}
ORDINARY_DAY = datetime(2026, 11, 10, 17, tzinfo=UTC)
BLACK_FRIDAY_DAY = datetime(2026, 11, 27, 17, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def make_shop(make_tenant, make_plan, db, platform):
    make_plan("rules", {"cashback", "tiers"})

    def build(programs=(FRECUENTES, BLACK_FRIDAY), **settings):
        tenant = make_tenant(plan="rules")
        with db(tenant) as session:
            update_program(session, {"points_per_amount": {"amount": "1000", "points": 1}})
            platform.plugins.save_settings(
                session,
                "cashback",
                {
                    "programs": list(programs),
                    "point_value": "10",
                    "max_pay_with_points_percent": "30",
                    **settings,
                },
            )
            session.commit()
        return tenant

    return build


@pytest.fixture
def shop(make_shop):
    return make_shop()


def buy(db, tenant, member_id, amount, at=ORDINARY_DAY):
    with clock_at(at), db(tenant) as session:
        purchase, entries = record_purchase(
            session, session.get(Membership, member_id), amount, actor=CASHIER
        )
        session.commit()
        return [(e.kind, e.points, e.label) for e in entries], purchase.id


def balance(db, tenant, member_id):
    with db(tenant) as session:
        books = ledger.audit_member(session, member_id)
        assert books[0] == books[1] == books[2]
        return books[0]


# --- earning ---------------------------------------------------------------------


def test_gold_member_on_black_friday_earns_base_tier_bonus_and_five_percent(
    make_shop, make_member, db, platform
):
    """The issue's example: 45,000 COP at Oro (×1.2) with Black Friday at 5% active."""
    shop = make_shop()
    with db(shop) as session:
        platform.plugins.save_settings(
            session,
            "tiers",
            {
                "tiers": [
                    {"code": "plata", "name": "Plata", "multiplier": "1", "threshold": "0"},
                    {"code": "oro", "name": "Oro", "multiplier": "1.2", "threshold": "500000"},
                ]
            },
        )
        session.commit()
    member = make_member(shop)
    buy(db, shop, member.id, "500000", at=utc(2026, 11, 20, 15))  # Oro, and 100,000 saved
    before = balance(db, shop, member.id)
    lines, _ = buy(db, shop, member.id, "45000", at=BLACK_FRIDAY_DAY)
    assert sorted(lines) == sorted(
        [
            ("earn", 45, None),  # 45,000 / 1,000
            ("tier_bonus", 9, "Oro ×1,2"),  # floor(45 × 0.2)
            ("cashback", 225, "Black Friday 5%"),  # 45,000 × 5% / 10 COP a point
        ]
    )
    assert balance(db, shop, member.id) - before == 279


def test_the_highest_percentage_applies_never_the_sum(shop, make_member, db):
    member = make_member(shop)
    buy(db, shop, member.id, "100000")  # savings reach 100,000: 2% applies from now on
    lines, _ = buy(db, shop, member.id, "45000", at=BLACK_FRIDAY_DAY)
    assert lines == [("earn", 45, None), ("cashback", 225, "Black Friday 5%")]  # not 225 + 90


def test_a_later_program_with_a_higher_percent_wins_and_ties_go_to_the_first(
    make_shop, make_member, db
):
    shop = make_shop(
        programs=[
            {"name": "Uno", "percent": "3"},
            {"name": "Dos", "percent": "3"},
            {"name": "Tres", "percent": "2.5"},
        ]
    )
    member = make_member(shop)
    lines, _ = buy(db, shop, member.id, "10000")
    assert lines == [("earn", 10, None), ("cashback", 30, "Uno 3%")]


def test_ordinary_day_earns_two_percent_rounded_down(shop, make_member, db):
    member = make_member(shop)
    buy(db, shop, member.id, "100000")
    lines, _ = buy(db, shop, member.id, "45999")
    # 45,999 × 2% = 919.98 COP = 91.998 points → 91
    assert lines == [("earn", 45, None), ("cashback", 91, "Clientes frecuentes 2%")]


def test_savings_threshold_counts_what_was_bought_before_this_purchase(shop, make_member, db):
    member = make_member(shop)
    lines, _ = buy(db, shop, member.id, "99999.99")
    assert lines == [("earn", 99, None)]  # no savings yet
    lines, _ = buy(db, shop, member.id, "20000")  # savings 99,999.99: one cent short
    assert lines == [("earn", 20, None)]
    lines, _ = buy(db, shop, member.id, "20000")  # savings 119,999.99
    assert lines == [("earn", 20, None), ("cashback", 40, "Clientes frecuentes 2%")]


def test_savings_threshold_exactly_reached_applies(shop, make_member, db):
    member = make_member(shop)
    buy(db, shop, member.id, "100000")
    lines, _ = buy(db, shop, member.id, "20000")
    assert lines[-1] == ("cashback", 40, "Clientes frecuentes 2%")


def test_returned_purchases_do_not_count_as_savings(shop, make_member, db):
    member = make_member(shop)
    _, purchase = buy(db, shop, member.id, "100000")
    with clock_at(ORDINARY_DAY), db(shop) as session:
        return_purchase(session, get_purchase(session, purchase), actor=CASHIER)
        session.commit()
    lines, _ = buy(db, shop, member.id, "20000")
    assert lines == [("earn", 20, None)]


def test_savings_count_only_what_a_partly_returned_purchase_kept(shop, make_member, db):
    member = make_member(shop)
    _, purchase = buy(db, shop, member.id, "100000")
    with clock_at(ORDINARY_DAY), db(shop) as session:
        return_part(session, get_purchase(session, purchase), actor=CASHIER, amount="30000")
        session.commit()
        assert services.savings(session, member.id) == Decimal("70000")


@pytest.mark.parametrize(("amount", "cashback"), [("20000", 40), ("19999.99", None)])
def test_minimum_purchase_is_included(shop, make_member, db, amount, cashback):
    member = make_member(shop)
    buy(db, shop, member.id, "100000")
    lines, _ = buy(db, shop, member.id, amount)
    assert [points for kind, points, _l in lines if kind == "cashback"] == (
        [cashback] if cashback else []
    )


@pytest.mark.parametrize(
    ("moment", "applies"),
    [
        (utc(2026, 11, 27, 4, 59, 59), False),  # 26 Nov, 23:59:59 in Bogotá
        (utc(2026, 11, 27, 5, 0, 0), True),  # 27 Nov, 00:00 in Bogotá
        (utc(2026, 12, 1, 4, 59, 59), True),  # 30 Nov, 23:59:59 in Bogotá: last day included
        (utc(2026, 12, 1, 5, 0, 0), False),  # 1 Dec, 00:00 in Bogotá
    ],
)
def test_program_dates_are_local_days_both_included(shop, make_member, db, moment, applies):
    member = make_member(shop)
    lines, _ = buy(db, shop, member.id, "10000", at=moment)
    assert (("cashback", 50, "Black Friday 5%") in lines) is applies


def test_an_inactive_program_earns_nothing(make_shop, make_member, db):
    shop = make_shop(programs=[{**BLACK_FRIDAY, "active": False}])
    member = make_member(shop)
    lines, _ = buy(db, shop, member.id, "45000", at=BLACK_FRIDAY_DAY)
    assert lines == [("earn", 45, None)]


def test_a_return_takes_the_cashback_back_too(shop, make_member, db):
    member = make_member(shop)
    _, purchase = buy(db, shop, member.id, "45000", at=BLACK_FRIDAY_DAY)
    assert balance(db, shop, member.id) == 270  # 45 + 225
    with clock_at(BLACK_FRIDAY_DAY), db(shop) as session:
        return_purchase(session, get_purchase(session, purchase), actor=CASHIER)
        session.commit()
    assert balance(db, shop, member.id) == 0


def test_percent_label_follows_the_tenant_language(make_shop, make_member, db):
    shop = make_shop(programs=[{"name": "Happy hour", "percent": "2.5"}])
    member = make_member(shop)
    lines, _ = buy(db, shop, member.id, "10000")
    assert lines[-1] == ("cashback", 25, "Happy hour 2,5%")


# --- paying with points ------------------------------------------------------------


def _funded(shop, make_member, db, points=5000):
    member = make_member(shop)
    with db(shop) as session:
        ledger.earn(session, session.get(Membership, member.id), points=points, actor=CASHIER)
        session.commit()
    return member


def test_pay_with_points_up_to_the_cap(shop, make_member, db):
    member = _funded(shop, make_member, db)
    with db(shop) as session:
        # 30% of 45,000 = 13,500 COP = 1,350 points at 10 COP
        payment = pay_with_points(
            session,
            session.get(Membership, member.id),
            "45000",
            1350,
            actor=CASHIER,
            idempotency_key="till-1",
        )
        session.commit()
    assert (payment.points, payment.value, payment.to_pay) == (
        1350,
        Decimal("13500.00"),
        Decimal("31500.00"),
    )
    assert payment.entry.kind == "pay_with_points"
    assert balance(db, shop, member.id) == 3650


def test_one_point_over_the_cap_is_refused_with_the_maximum(shop, make_member, db):
    member = _funded(shop, make_member, db)
    with db(shop) as session, pytest.raises(InvalidInput) as refused:
        pay_with_points(session, session.get(Membership, member.id), "45000", 1351, actor=CASHIER)
    with force_locale("es"):
        assert str(refused.value.fields["points"]) == (
            "Con puntos se puede pagar como máximo el 30% de la cuenta: como máximo 1350 "
            "puntos para esta cuenta de $45.000."
        )
    with force_locale("en"):
        assert "at most 1350 points" in str(refused.value.fields["points"])
    assert balance(db, shop, member.id) == 5000


def test_cap_rounds_down_in_points(make_shop, make_member, db):
    shop = make_shop(max_pay_with_points_percent="33.33")
    member = _funded(shop, make_member, db)
    with db(shop) as session:
        settings = services.get_settings(session)
        # 10,001 × 33.33% = 3,333.33 COP = 333.33 points → 333
        assert services.max_points_for_bill(settings, Decimal("10001")) == 333
        with pytest.raises(InvalidInput):
            pay_with_points(
                session, session.get(Membership, member.id), "10001", 334, actor=CASHIER
            )


def test_a_quote_asks_the_cap_through_points_payable(shop, make_member, db, platform):
    """The hook the POS API's quote calls: the cap's points for the bill, no more than a
    member's balance, and what they pay; nothing where cashback is off."""
    member = _funded(shop, make_member, db, points=100)
    ask = platform.plugins.ask
    with db(shop) as session:
        # 30% of 10,000 COP = 3,000 COP = 300 points at 10 COP a point
        assert ask(session, "points_payable", amount=Decimal("10000"), member=None) == [
            (300, Decimal("3000.00"))
        ]
        ana = session.get(Membership, member.id)
        assert ask(session, "points_payable", amount=Decimal("10000"), member=ana) == [
            (100, Decimal("1000.00"))
        ]
        platform.plugins.switch(session, shop, "cashback", False)
        session.commit()
    with db(shop) as session:
        assert ask(session, "points_payable", amount=Decimal("10000"), member=None) == []


def test_pay_with_points_is_written_once_per_key(shop, make_member, db):
    member = _funded(shop, make_member, db)
    for _ in range(2):
        with db(shop) as session:
            payment = pay_with_points(
                session,
                session.get(Membership, member.id),
                "45000",
                1000,
                actor=CASHIER,
                idempotency_key="till-7",
            )
            session.commit()
    assert balance(db, shop, member.id) == 4000
    with db(shop) as session:
        kinds = session.scalars(select(ledger.Entry.kind).order_by(ledger.Entry.id)).all()
        assert kinds == ["earn", "pay_with_points"]
        with pytest.raises(IdempotencyMismatch):  # same key, another bill
            pay_with_points(
                session,
                session.get(Membership, member.id),
                "50000",
                1000,
                actor=CASHIER,
                idempotency_key="till-7",
            )
    assert payment.points == 1000


def test_pay_with_more_points_than_the_member_has(shop, make_member, db):
    member = _funded(shop, make_member, db, points=100)
    with db(shop) as session, pytest.raises(InsufficientPoints):
        pay_with_points(session, session.get(Membership, member.id), "45000", 101, actor=CASHIER)


@pytest.mark.parametrize(
    ("bill", "points", "field"),
    [
        ("0", 1, "bill_amount"),
        (45000.0, 1, "bill_amount"),
        ("45000", 0, "points"),
        ("45000", "10", "points"),
        ("45000", True, "points"),
    ],
)
def test_pay_with_points_refuses_bad_input(shop, make_member, db, bill, points, field):
    member = _funded(shop, make_member, db)
    with db(shop) as session, pytest.raises(InvalidInput) as refused:
        pay_with_points(session, session.get(Membership, member.id), bill, points, actor=CASHIER)
    assert field in refused.value.fields


# --- settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"programs": [{**BLACK_FRIDAY, "percent": "0"}]}, "programs.0.percent"),
        ({"programs": [{**BLACK_FRIDAY, "percent": "100.5"}]}, "programs.0.percent"),
        ({"programs": [{**BLACK_FRIDAY, "percent": "2.555"}]}, "programs.0.percent"),
        ({"programs": [{**BLACK_FRIDAY, "ends_on": "2026-11-26"}]}, "programs.0.ends_on"),
        ({"programs": [{**BLACK_FRIDAY, "min_purchase": "-1"}]}, "programs.0.min_purchase"),
        ({"programs": [BLACK_FRIDAY, {**FRECUENTES, "name": "black friday"}]}, "programs"),
        ({"programs": [{"percent": "5"}]}, "programs.0.name"),
        ({"point_value": "0"}, "point_value"),
        ({"max_pay_with_points_percent": "101"}, "max_pay_with_points_percent"),
    ],
)
def test_settings_refuse_nonsense(shop, db, platform, changes, field):
    with db(shop) as session, pytest.raises(InvalidInput) as refused:
        platform.plugins.save_settings(session, "cashback", changes)
    assert field in refused.value.fields


def test_settings_defaults(make_tenant, make_plan, db, platform):
    make_plan("cb", {"cashback"})
    tenant = make_tenant(plan="cb")
    with db(tenant) as session:
        assert platform.plugins.settings(session, "cashback") == {
            "programs": [],
            "point_value": Decimal(1),
            "max_pay_with_points_percent": Decimal(100),
        }
