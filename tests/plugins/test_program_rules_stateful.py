"""Tiers and cashback against a model: random purchases, returns, redemptions, payments
with points, expiry and period ends keep the books and the tiers right.

One tenant per Hypothesis example, in Bogotá (UTC-5): 1 point per 1,000 COP, points
expire after a month; tiers Plata ×1 (from 0), Oro ×1.2 (from 100,000), Platino ×2
(from 300,000) by calendar month, with either downgrade policy; cashback 3% once
50,000 COP are saved, a point worth 10 COP, at most 50% of a bill paid with points.
A plain-Python model predicts each purchase's points (base, tier bonus, cashback) and
each member's tier and kept tier. After every step: balance == sum of entries == sum
of remaining lots >= 0 for every member, and each tier is the model's and at least
what the member's spend of the current month reaches.

Fixtures are not re-run per example, so the test hands its factories over in `ENV`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from core.host.actors import Actor
from core.host.db import clock_at
from core.host.errors import InsufficientPoints, InvalidInput
from core.loyalty import ledger
from core.loyalty.expiry import month_start
from core.loyalty.members import Membership
from core.loyalty.program import update_program
from core.loyalty.purchases import get_purchase, record_purchase, return_purchase
from plugins.cashback.services import pay_with_points
from plugins.tiers import services as tier_services
from plugins.tiers.models import TierMember

ENV: dict[str, Any] = {}

STAFF = Actor.staff(1)
START = datetime(2026, 1, 28, 15, 30, tzinfo=UTC)
TIERS = [
    {"code": "plata", "name": "Plata", "multiplier": "1", "threshold": "0"},
    {"code": "oro", "name": "Oro", "multiplier": "1.2", "threshold": "100000"},
    {"code": "platino", "name": "Platino", "multiplier": "2", "threshold": "300000"},
]
THRESHOLDS = [Decimal(t["threshold"]) for t in TIERS]
MULTIPLIERS = [Decimal(t["multiplier"]) for t in TIERS]
CODES = [t["code"] for t in TIERS]
SAVINGS_THRESHOLD = Decimal(50000)
POINT_VALUE = Decimal(10)


def floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def qualifying(spend: Decimal) -> int:
    return max((i for i, t in enumerate(THRESHOLDS) if spend >= t), default=-1)


def rank(code: str | None) -> int:
    return CODES.index(code) if code in CODES else -1


@dataclass
class ModelPurchase:
    id: int
    member_id: int
    amount: Decimal
    at: datetime
    points: int
    returned: bool = False


@dataclass
class ModelTier:
    tier: int
    kept: int


class ProgramRulesMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tenant = None
        self.members: list[int] = []
        self.now = START
        self.downgrade = "period_end"
        self.purchases: list[ModelPurchase] = []
        self.tiers: dict[int, ModelTier] = {}

    # --- plumbing ------------------------------------------------------------------

    def session(self):
        return ENV["db"](self.tenant)

    def member_id(self, index: int) -> int:
        return self.members[index % len(self.members)]

    def spend(self, member_id: int, since: datetime, until: datetime | None = None) -> Decimal:
        return sum(
            (
                p.amount
                for p in self.purchases
                if p.member_id == member_id
                and not p.returned
                and p.at >= since
                and (until is None or p.at < until)
            ),
            Decimal(0),
        )

    def balance(self, member_id: int) -> int:
        with self.session() as session:
            return session.get(Membership, member_id).balance

    # --- setup ---------------------------------------------------------------------

    @initialize(downgrade=st.sampled_from(["period_end", "never"]))
    def open_shop(self, downgrade: str) -> None:
        ENV["make_plan_once"]()
        self.downgrade = downgrade
        self.tenant = ENV["make_tenant"](plan="rules", timezone="America/Bogota")
        with self.session() as session:
            update_program(
                session, {"points_per_amount": {"amount": "1000", "points": 1}, "expiry_months": 1}
            )
            plugins = ENV["platform"].plugins
            plugins.save_settings(session, "tiers", {"tiers": TIERS, "downgrade": downgrade})
            plugins.save_settings(
                session,
                "cashback",
                {
                    "programs": [
                        {
                            "name": "Ahorros",
                            "percent": "3",
                            "savings_threshold": str(SAVINGS_THRESHOLD),
                        }
                    ],
                    "point_value": str(POINT_VALUE),
                    "max_pay_with_points_percent": "50",
                },
            )
            session.commit()
        self.members = [ENV["make_member"](self.tenant).id for _ in range(2)]

    # --- rules ---------------------------------------------------------------------

    @rule(
        who=st.integers(0, 1),
        amount=st.builds(
            lambda hundreds, cents: Decimal(hundreds * 100) + cents,
            st.integers(1, 2000),
            st.sampled_from([Decimal(0), Decimal("0.01"), Decimal("99.99")]),
        ),
    )
    def purchase(self, who: int, amount: Decimal) -> None:
        self.buy(self.member_id(who), amount)

    @rule(who=st.integers(0, 1), thousands=st.integers(50, 350))
    def big_purchase(self, who: int, thousands: int) -> None:
        """Another rule for purchases: they stay likely when Hypothesis switches rules off."""
        self.buy(self.member_id(who), Decimal(thousands * 1000))

    def buy(self, member_id: int, amount: Decimal) -> None:
        start = month_start(self.tenant, self.now)
        before = self.spend(member_id, start)
        state = self.tiers.get(member_id)
        held = state.tier if state else qualifying(before)
        base = floor(amount / 1000)
        bonus = floor(base * (MULTIPLIERS[held] - 1)) if held >= 0 and base else 0
        saved = self.spend(member_id, datetime.min.replace(tzinfo=UTC))
        cashback = floor(amount * 3 / 100 / POINT_VALUE) if saved >= SAVINGS_THRESHOLD else 0
        with clock_at(self.now), self.session() as session:
            purchase, entries = record_purchase(
                session, session.get(Membership, member_id), amount, actor=STAFF
            )
            session.commit()
        got = {e.kind: e.points for e in entries}
        expected = {
            k: v for k, v in {"earn": base, "tier_bonus": bonus, "cashback": cashback}.items() if v
        }
        assert got == expected, (amount, held, saved)
        self.purchases.append(
            ModelPurchase(purchase.id, member_id, amount, self.now, purchase.points)
        )
        after = qualifying(before + amount)
        if state is None:
            self.tiers[member_id] = ModelTier(tier=max(held, after), kept=-1)
        else:
            state.tier = max(state.tier, after)

    @precondition(lambda self: any(not p.returned for p in self.purchases))
    @rule(pick=st.integers(0, 1000))
    def return_one(self, pick: int) -> None:
        open_ = [p for p in self.purchases if not p.returned]
        chosen = open_[pick % len(open_)]
        balance = self.balance(chosen.member_id)
        with clock_at(self.now), self.session() as session:
            return_purchase(session, get_purchase(session, chosen.id), actor=STAFF)
            session.commit()
        chosen.returned = True
        assert self.balance(chosen.member_id) == balance - min(chosen.points, balance)
        state = self.tiers[chosen.member_id]
        spent = self.spend(chosen.member_id, month_start(self.tenant, self.now))
        state.tier = min(state.tier, max(state.kept, qualifying(spent)))

    @rule(who=st.integers(0, 1), points=st.integers(1, 600))
    def redeem(self, who: int, points: int) -> None:
        member_id = self.member_id(who)
        balance = self.balance(member_id)
        with clock_at(self.now), self.session() as session:
            try:
                ledger.redeem(session, session.get(Membership, member_id), points, actor=STAFF)
                session.commit()
            except InsufficientPoints:
                session.rollback()
                assert points > balance
            else:
                assert points <= balance

    @rule(
        who=st.integers(0, 1),
        bill=st.integers(1, 100).map(lambda n: Decimal(n * 1000)),
        points=st.integers(1, 6000),
    )
    def pay(self, who: int, bill: Decimal, points: int) -> None:
        member_id = self.member_id(who)
        balance = self.balance(member_id)
        cap = floor(bill * Decimal("0.5") / POINT_VALUE)
        with clock_at(self.now), self.session() as session:
            try:
                pay_with_points(
                    session, session.get(Membership, member_id), bill, points, actor=STAFF
                )
                session.commit()
            except InvalidInput:
                session.rollback()
                assert points > cap
            except InsufficientPoints:
                session.rollback()
                assert cap >= points > balance
            else:
                assert points <= min(cap, balance)

    @rule(hours=st.integers(1, 24 * 12))
    def time_passes(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    @rule()
    def expire(self) -> None:
        with clock_at(self.now), self.session() as session:
            ledger.expire_due(session, self.now)
            session.commit()

    @rule()
    def period_end(self) -> None:
        """The period end at or before now, run (again) at any time: the job's catch-up."""
        self.run_period_end()

    @rule(months=st.integers(1, 2), minutes=st.integers(0, 90))
    def next_months(self, months: int, minutes: int) -> None:
        """Jump to local midnight of a later 1st (plus a little), then the monthly jobs."""
        self.now = (
            month_start(self.tenant, self.now)
            + relativedelta(months=months)
            + timedelta(minutes=minutes)
        ).astimezone(UTC)
        self.run_period_end()
        self.expire()

    def run_period_end(self) -> None:
        boundary = month_start(self.tenant, self.now)
        closed = boundary - relativedelta(months=1)
        with clock_at(self.now), self.session() as session:
            changed = tier_services.reevaluate(session, self.now)
            session.commit()
        expected_changes = 0
        for member_id, state in self.tiers.items():
            current = qualifying(self.spend(member_id, boundary))
            if self.downgrade == "never":
                new = max(state.tier, current)
                kept = new
            else:
                kept = qualifying(self.spend(member_id, closed, boundary))
                new = max(kept, current)
            expected_changes += new != state.tier
            state.tier, state.kept = new, kept
        assert changed == expected_changes

    # --- after every step ----------------------------------------------------------

    @invariant()
    def books_and_tiers_agree(self) -> None:
        if self.tenant is None:
            return
        with clock_at(self.now), self.session() as session:
            for member_id in self.members:
                balance, entries, lots = ledger.audit_member(session, member_id)
                assert balance == entries == lots >= 0, (member_id, balance, entries, lots)
            rows = {r.member_id: r for r in session.scalars(select(TierMember))}
            assert set(rows) == set(self.tiers)
            for member_id, state in self.tiers.items():
                row = rows[member_id]
                assert (rank(row.tier), rank(row.kept)) == (state.tier, state.kept), member_id
                spent = self.spend(member_id, month_start(self.tenant, self.now))
                assert state.tier >= qualifying(spent)  # upgraded at once, never behind
                status = tier_services.member_tier(session, session.get(Membership, member_id))
                assert rank(status.tier.code if status.tier else None) == state.tier
                assert status.spend == spent


def test_program_rules_state_machine(make_tenant, make_member, make_plan, db, platform):
    made: list[bool] = []

    def make_plan_once() -> None:
        if not made:
            make_plan("rules", {"tiers", "cashback"})
            made.append(True)

    ENV.update(
        make_tenant=make_tenant,
        make_member=make_member,
        db=db,
        platform=platform,
        make_plan_once=make_plan_once,
    )
    try:
        run_state_machine_as_test(
            ProgramRulesMachine,
            settings=settings(max_examples=12, stateful_step_count=30, deadline=None),
        )
    finally:
        ENV.clear()
