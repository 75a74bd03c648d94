"""The ledger against a model: random sequences of operations keep every invariant.

A Hypothesis state machine plays requests against one tenant with a few
members (earn points, record a purchase by amount, redeem, refund, adjust, expire at an
advancing clock, retries and misuses of idempotency keys), each request in its
own committed or rolled-back transaction. A plain-Python model predicts every
balance, every lot's remaining points and which lots each debit takes; after
every step the database must agree with the model and with itself.

Fixtures are not re-run per Hypothesis example, so the test function hands its
factories to the machine through `ENV`, and each example opens a fresh tenant.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
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
from sqlalchemy import func, select

from core.host.actors import Actor
from core.host.db import clock_at
from core.host.errors import IdempotencyMismatch, InsufficientPoints, InvalidInput
from core.loyalty import ledger
from core.loyalty.members import Membership
from core.loyalty.program import update_program
from core.loyalty.purchases import record_purchase

ENV: dict[str, Any] = {}  # set by the test function: make_tenant, make_member, db, platform

STAFF = Actor.staff(1)
START = datetime(2026, 1, 5, 15, 30, tzinfo=UTC)
EQUIVALENCE = {"amount": "1500", "points": 2}  # 2 points per 1,500, rounded down
CREDIT_KINDS = {"earn", "welcome", "refund"}


@dataclass
class ModelLot:
    entry_id: int
    member_id: int
    points: int
    remaining: int
    expires_at: datetime | None


@dataclass
class KeyedOp:
    op: str
    member_id: int
    args: dict[str, Any]
    key: str
    entry_id: int


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tenant = None
        self.members: list[int] = []
        self.now = START
        self.expiry_months: int | None = None
        self.balance: dict[int, int] = {}
        self.lots: dict[int, ModelLot] = {}  # by the id of the credit entry
        self.kinds: dict[int, str] = {}  # entry id → kind, every entry written
        self.debit_allocations: dict[int, list[tuple[int, int]]] = {}
        self.debit_points: dict[int, tuple[int, int]] = {}  # debit id → (member, points)
        self.refunded: set[int] = set()
        self.keyed: list[KeyedOp] = []
        self.keys = 0

    # --- plumbing ----------------------------------------------------------------

    def session(self):
        return ENV["db"](self.tenant)

    def member_id(self, index: int) -> int:
        return self.members[index % len(self.members)]

    def new_key(self) -> str:
        self.keys += 1
        return f"req-{self.keys}"

    def counts(self) -> tuple[int, int, int]:
        with self.session() as session:
            return (
                session.scalar(select(func.count(ledger.Entry.id))),
                session.scalar(select(func.count(ledger.Lot.id))),
                session.scalar(select(func.count(ledger.Allocation.id))),
            )

    def expires(self, moment: datetime) -> datetime | None:
        if self.expiry_months is None:
            return None
        return moment + relativedelta(months=self.expiry_months)

    def call(self, op: str, member_id: int | None, args: dict[str, Any], key: str | None):
        """Run one request in its own transaction: commit, or roll back and re-raise."""
        with clock_at(self.now), self.session() as session:
            try:
                member = session.get(Membership, member_id) if op != "refund" else None
                if op == "earn":
                    entry = ledger.earn(session, member, actor=STAFF, idempotency_key=key, **args)
                elif op == "purchase":  # the one amount-to-points path
                    _purchase, entries = record_purchase(
                        session,
                        member,
                        args["amount"],
                        actor=STAFF,
                        idempotency_key=key,
                        description=args.get("description"),
                    )
                    entry = entries[0] if entries else None
                elif op == "redeem":
                    entry = ledger.redeem(
                        session, member, args["points"], actor=STAFF, idempotency_key=key
                    )
                elif op == "adjust":
                    entry = ledger.adjust(
                        session,
                        member,
                        args["points"],
                        actor=STAFF,
                        description=f"corrección {args['points']}",
                        idempotency_key=key,
                    )
                elif op == "refund":
                    debit = session.get(ledger.Entry, args["entry_id"])
                    entry = ledger.refund(session, debit, actor=STAFF, idempotency_key=key)
                else:
                    raise AssertionError(op)
                session.commit()
                return entry
            except BaseException:
                session.rollback()
                raise

    def record(self, op, member_id, args, key, entry) -> None:
        if key is not None:
            self.keyed.append(KeyedOp(op, member_id, args, key, entry.id))

    def credit(self, member_id: int, entry, points: int) -> None:
        assert entry.points == points
        self.balance[member_id] += points
        assert entry.balance_after == self.balance[member_id]
        self.kinds[entry.id] = entry.kind
        self.lots[entry.id] = ModelLot(entry.id, member_id, points, points, self.expires(self.now))

    def debit(self, member_id: int, entry, points: int) -> None:
        """Take `points` from the model's lots, soonest-expiring first, as the ledger must."""
        assert entry.points == -points
        self.balance[member_id] -= points
        assert entry.balance_after == self.balance[member_id]
        lots = sorted(
            (lot for lot in self.lots.values() if lot.member_id == member_id and lot.remaining),
            key=lambda lot: (lot.expires_at is None, lot.expires_at or START, lot.entry_id),
        )
        taken, left = [], points
        for lot in lots:
            take = min(left, lot.remaining)
            lot.remaining -= take
            taken.append((lot.entry_id, take))
            left -= take
            if not left:
                break
        assert left == 0, "the model balance covered the debit but its lots did not"
        self.kinds[entry.id] = entry.kind
        self.debit_allocations[entry.id] = taken
        self.debit_points[entry.id] = (member_id, points)
        with self.session() as session:
            stored = session.execute(
                select(ledger.Lot.entry_id, ledger.Allocation.points)
                .join(ledger.Lot, ledger.Lot.id == ledger.Allocation.lot_id)
                .where(ledger.Allocation.entry_id == entry.id)
            ).all()
        assert sorted(map(tuple, stored)) == sorted(taken)

    # --- set-up ------------------------------------------------------------------

    @initialize(
        members=st.integers(min_value=2, max_value=3),
        welcome=st.sampled_from([0, 25]),
        expiry_months=st.sampled_from([1, 1, 2, None]),
        opening=st.lists(st.integers(0, 300), min_size=3, max_size=3),
    )
    def open_shop(
        self, members: int, welcome: int, expiry_months: int | None, opening: list[int]
    ) -> None:
        self.expiry_months = expiry_months
        with clock_at(self.now):
            self.tenant = ENV["make_tenant"]()
            with self.session() as session:
                update_program(
                    session,
                    {
                        "points_per_amount": EQUIVALENCE,
                        "welcome_points": welcome,
                        "expiry_months": expiry_months,
                    },
                )
                # no e-mail per movement: this test is about the ledger
                ENV["platform"].plugins.switch(session, self.tenant, "notifications", False)
                session.commit()
            for _ in range(members):
                member = ENV["make_member"](self.tenant)
                self.members.append(member.id)
                self.balance[member.id] = 0
        with self.session() as session:
            for entry in session.scalars(select(ledger.Entry).order_by(ledger.Entry.id)):
                assert (entry.kind, entry.points) == ("welcome", welcome)
                self.credit(entry.member_id, entry, welcome)
        assert len(self.kinds) == (members if welcome else 0)
        for member_id, points in zip(self.members, opening, strict=False):
            if points:
                self.credit(
                    member_id, self.call("earn", member_id, {"points": points}, None), points
                )

    # --- requests ----------------------------------------------------------------

    @rule(who=st.integers(0, 2), points=st.integers(1, 400), keyed=st.booleans())
    def earn_points(self, who: int, points: int, keyed: bool) -> None:
        member_id, key = self.member_id(who), self.new_key() if keyed else None
        args = {"points": points}
        entry = self.call("earn", member_id, args, key)
        self.credit(member_id, entry, points)
        assert entry.kind == "earn"
        self.record("earn", member_id, args, key, entry)

    @rule(
        who=st.integers(0, 2),
        amount=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("400000"), places=2),
        keyed=st.booleans(),
    )
    def earn_amount(self, who: int, amount: Decimal, keyed: bool) -> None:
        """A purchase earns the equivalence, rounded down; one worth nothing is recorded
        without an entry."""
        member_id, key = self.member_id(who), self.new_key() if keyed else None
        expected = int(amount * 2 // 1500)
        args = {"amount": amount}
        before = self.counts()
        entry = self.call("purchase", member_id, args, key)
        if entry is None:
            assert expected == 0, f"{amount} is worth {expected} points, none given"
            assert self.counts() == before
            return
        assert expected > 0, f"{amount} is worth nothing, yet {entry.points} were given"
        assert entry.kind == "earn"
        self.credit(member_id, entry, expected)
        self.record("purchase", member_id, args, key, entry)

    @rule(who=st.integers(0, 2), percent=st.integers(1, 130), keyed=st.booleans())
    def redeem(self, who: int, percent: int, keyed: bool) -> None:
        """Redeem a share of the balance; over 100 % (or from nothing) is refused."""
        member_id, key = self.member_id(who), self.new_key() if keyed else None
        points = max(1, -(-self.balance[member_id] * percent // 100))
        args = {"points": points}
        before = self.counts()
        try:
            entry = self.call("redeem", member_id, args, key)
        except InsufficientPoints:
            assert points > self.balance[member_id]
            assert self.counts() == before
            return
        assert points <= self.balance[member_id]
        assert entry.kind == "redeem"
        self.debit(member_id, entry, points)
        self.record("redeem", member_id, args, key, entry)

    @rule(who=st.integers(0, 2), up=st.booleans(), size=st.integers(1, 300), keyed=st.booleans())
    def adjust(self, who: int, up: bool, size: int, keyed: bool) -> None:
        """A correction up, or down by up to a bit more than the balance."""
        member_id, key = self.member_id(who), self.new_key() if keyed else None
        points = size if up else -max(1, self.balance[member_id] * size // 250)
        args = {"points": points}
        before = self.counts()
        try:
            entry = self.call("adjust", member_id, args, key)
        except InsufficientPoints:
            assert -points > self.balance[member_id]
            assert self.counts() == before
            return
        assert entry.kind == "adjust"
        if points > 0:
            self.credit(member_id, entry, points)
        else:
            self.debit(member_id, entry, -points)
        self.record("adjust", member_id, args, key, entry)

    @precondition(lambda self: self.debit_points)
    @rule(data=st.data(), keyed=st.booleans())
    def refund_debit(self, data: st.DataObject, keyed: bool) -> None:
        """Refund a redemption or deduction (refused if it was refunded already)."""
        self.refund(data.draw(st.sampled_from(sorted(self.debit_points)), label="debit"), keyed)

    @precondition(lambda self: set(self.kinds) - set(self.debit_points))
    @rule(data=st.data(), keyed=st.booleans())
    def refund_other(self, data: st.DataObject, keyed: bool) -> None:
        """Only debits can be refunded: a credit, refund or expiry is refused."""
        others = sorted(set(self.kinds) - set(self.debit_points))
        self.refund(data.draw(st.sampled_from(others), label="not a debit"), keyed)

    def refund(self, target: int, keyed: bool) -> None:
        key = self.new_key() if keyed else None
        args = {"entry_id": target}
        refundable = target in self.debit_points and target not in self.refunded
        before = self.counts()
        try:
            entry = self.call("refund", None, args, key)
        except InvalidInput:
            assert not refundable, f"entry {target} ({self.kinds[target]}) could be refunded"
            assert self.counts() == before
            return
        assert refundable, f"entry {target} ({self.kinds[target]}) was refunded"
        member_id, points = self.debit_points[target]
        assert (entry.kind, entry.points, entry.reverses_id) == ("refund", points, target)
        self.balance[member_id] += points
        assert entry.balance_after == self.balance[member_id]
        for lot_entry_id, taken in self.debit_allocations[target]:
            self.lots[lot_entry_id].remaining += taken  # back into the very same lots
        self.refunded.add(target)
        self.kinds[entry.id] = entry.kind
        self.record("refund", member_id, args, key, entry)

    @rule(days=st.integers(1, 50))
    def time_passes(self, days: int) -> None:
        self.now += timedelta(days=days, hours=days % 5)

    @rule(months=st.sampled_from([None, 1, 3]))
    def change_expiry(self, months: int | None) -> None:
        with self.session() as session:
            update_program(session, {"expiry_months": months})
            session.commit()
        self.expiry_months = months

    @rule(days=st.sampled_from([0, 0, 10, 31, 45, 62, 95]))
    def expire(self, days: int) -> None:
        """The expiry job, after some days (0: again at the same moment)."""
        self.now += timedelta(days=days)
        due: dict[int, int] = defaultdict(int)
        for lot in self.lots.values():
            if lot.remaining and lot.expires_at is not None and lot.expires_at <= self.now:
                due[lot.member_id] += lot.remaining
        with clock_at(self.now), self.session() as session:
            written = ledger.expire_due(session, self.now)
            session.commit()
            expired = {
                e.member_id: e
                for e in session.scalars(
                    select(ledger.Entry).where(
                        ledger.Entry.kind == "expire",
                        ledger.Entry.id.not_in(list(self.kinds) or [0]),
                    )
                )
            }
        assert written == len(due) == len(expired)
        for member_id, points in due.items():
            entry = expired[member_id]
            self.balance[member_id] -= points
            assert (entry.points, entry.balance_after) == (-points, self.balance[member_id])
            self.kinds[entry.id] = "expire"
        for lot in self.lots.values():
            if lot.expires_at is not None and lot.expires_at <= self.now:
                lot.remaining = 0

    @precondition(lambda self: any(lot.remaining and lot.expires_at for lot in self.lots.values()))
    @rule()
    def expire_on_the_dot(self) -> None:
        """The expiry job at the very moment the next lot expires: that lot is due."""
        self.now = max(
            self.now,
            min(lot.expires_at for lot in self.lots.values() if lot.remaining and lot.expires_at),
        )
        self.expire(0)

    @precondition(lambda self: self.keyed)
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        """A client retries an earlier request with its key: the same entry, nothing written."""
        earlier = data.draw(st.sampled_from(self.keyed), label="retried request")
        before = self.counts()
        entry = self.call(earlier.op, earlier.member_id, earlier.args, earlier.key)
        assert entry.id == earlier.entry_id
        assert self.counts() == before

    @precondition(lambda self: self.keyed)
    @rule(data=st.data(), who=st.integers(0, 2))
    def reuse_key_for_another_request(self, data: st.DataObject, who: int) -> None:
        earlier = data.draw(st.sampled_from(self.keyed), label="reused key")
        before = self.counts()
        # The same kind of request with other details (purchases keep their keys apart
        # from plain grants' keys).
        op, args = (
            ("purchase", {"amount": Decimal("7000"), "description": "otra"})
            if earlier.op == "purchase"
            else ("earn", {"points": 7, "description": "otra"})
        )
        try:
            self.call(op, self.member_id(who), args, earlier.key)
        except IdempotencyMismatch:
            assert self.counts() == before
        else:
            raise AssertionError(f"key {earlier.key} accepted for a different request")

    # --- after every step ----------------------------------------------------------

    @invariant()
    def database_agrees(self) -> None:
        if self.tenant is None:
            return
        with self.session() as session:
            for member_id in self.members:
                balance, entries, lots = ledger.audit_member(session, member_id)
                assert balance == entries == lots == self.balance[member_id] >= 0, (
                    member_id,
                    (balance, entries, lots),
                    self.balance[member_id],
                )
                running = 0
                for points, balance_after in session.execute(
                    select(ledger.Entry.points, ledger.Entry.balance_after)
                    .where(ledger.Entry.member_id == member_id)
                    .order_by(ledger.Entry.id)
                ):
                    running += points
                    assert balance_after == running >= 0
            stored = {lot.entry_id: lot for lot in session.scalars(select(ledger.Lot))}
            reversed_ids = set(
                session.scalars(
                    select(ledger.Entry.reverses_id).where(ledger.Entry.reverses_id.is_not(None))
                )
            )
            used: dict[int, int] = defaultdict(int)
            for lot_id, entry_id, points in session.execute(
                select(
                    ledger.Allocation.lot_id, ledger.Allocation.entry_id, ledger.Allocation.points
                )
            ):
                assert points > 0
                if entry_id not in reversed_ids:
                    used[lot_id] += points
            entry_count = session.scalar(select(func.count(ledger.Entry.id)))
        assert reversed_ids == self.refunded
        assert entry_count == len(self.kinds)
        assert set(stored) == set(self.lots)
        for entry_id, lot in stored.items():
            model = self.lots[entry_id]
            assert 0 <= lot.remaining <= lot.points
            assert lot.points - used[lot.id] == lot.remaining, f"lot {lot.id} allocations"
            assert (lot.member_id, lot.points, lot.remaining, lot.expires_at) == (
                model.member_id,
                model.points,
                model.remaining,
                model.expires_at,
            ), f"lot of entry {entry_id}"


def test_ledger_state_machine(make_tenant, make_member, db, platform):
    ENV.update(make_tenant=make_tenant, make_member=make_member, db=db, platform=platform)
    try:
        run_state_machine_as_test(
            LedgerMachine,
            settings=settings(max_examples=30, stateful_step_count=25, deadline=None),
        )
    finally:
        ENV.clear()


def test_expiry_at_the_same_moment_after_a_refund_into_an_expired_lot(make_tenant, make_member, db):
    """Found by the machine's design: a refund puts points back into a lot that has
    expired since; running the expiry again at the same `as_of` expires them (it used
    to collide with the first run's idempotency key and fail)."""
    tenant = make_tenant()
    with db(tenant) as session:
        update_program(session, {"expiry_months": 1})
        session.commit()
    member = make_member(tenant)
    with clock_at(START), db(tenant) as session:
        ledger.earn(session, member, points=100, actor=STAFF)
        debit = ledger.redeem(session, member, 40, actor=STAFF)
        session.commit()
    as_of = START + timedelta(days=40)
    with clock_at(as_of), db(tenant) as session:
        assert ledger.expire_due(session, as_of) == 1
        session.commit()
        ledger.refund(session, session.get(ledger.Entry, debit.id), actor=STAFF)
        session.commit()
        assert ledger.audit_member(session, member.id) == (40, 40, 40)
        assert ledger.expire_due(session, as_of) == 1
        session.commit()
        assert ledger.expire_due(session, as_of) == 0
        session.commit()
        expired = list(
            session.scalars(
                select(ledger.Entry.points)
                .where(ledger.Entry.kind == "expire")
                .order_by(ledger.Entry.id)
            )
        )
        assert expired == [-60, -40]
        assert ledger.audit_member(session, member.id) == (0, 0, 0)
