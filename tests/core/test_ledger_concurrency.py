"""The ledger under real concurrency: threads, each with its own session and connection.

Every thread waits at a barrier and then runs one request (one transaction), as
concurrent requests to the API would. PostgreSQL only: SQLite serialises writers.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from core.host.actors import Actor
from core.host.db import clock_at
from core.host.errors import Conflict, InsufficientPoints, InvalidInput, OutOfStock
from core.loyalty import ledger, rewards
from core.loyalty.program import update_program
from tests.concurrency import JOIN_TIMEOUT, outcomes, run_together, unexpected_errors

pytestmark = pytest.mark.postgres

STAFF = Actor.staff(1)


@pytest.fixture
def shop(make_tenant, db, platform):
    tenant = make_tenant()
    with db(tenant) as session:
        platform.plugins.switch(session, tenant, "notifications", False)  # no e-mail here
        session.commit()
    return tenant


def check_member_books(session, member_id: int) -> tuple[int, int, int]:
    """Audit equal, lots within bounds, allocations add up, balance_after is a running sum."""
    audit = ledger.audit_member(session, member_id)
    assert audit[0] == audit[1] == audit[2] >= 0, audit
    running = 0
    for points, balance_after in session.execute(
        select(ledger.Entry.points, ledger.Entry.balance_after)
        .where(ledger.Entry.member_id == member_id)
        .order_by(ledger.Entry.id)
    ):
        running += points
        assert balance_after == running >= 0
    reversed_ids = set(
        session.scalars(
            select(ledger.Entry.reverses_id).where(ledger.Entry.reverses_id.is_not(None))
        )
    )
    used: dict[int, int] = defaultdict(int)
    for lot_id, entry_id, points in session.execute(
        select(ledger.Allocation.lot_id, ledger.Allocation.entry_id, ledger.Allocation.points)
    ):
        if entry_id not in reversed_ids:
            used[lot_id] += points
    for lot in session.scalars(select(ledger.Lot).where(ledger.Lot.member_id == member_id)):
        assert 0 <= lot.remaining <= lot.points
        assert lot.remaining == lot.points - used[lot.id], f"lot {lot.id}"
    for entry_id, points in session.execute(
        select(ledger.Entry.id, ledger.Entry.points).where(
            ledger.Entry.member_id == member_id, ledger.Entry.points < 0
        )
    ):
        allocated = session.scalar(
            select(func.sum(ledger.Allocation.points)).where(ledger.Allocation.entry_id == entry_id)
        )
        assert allocated == -points, f"debit {entry_id} allocated {allocated} of {-points}"
    return audit


def test_fifty_redemptions_of_ten_from_a_hundred(app, shop, make_member, db, sessions):
    member = make_member(shop)
    with db(shop) as session:
        ledger.earn(session, member, points=60, actor=STAFF)
        ledger.earn(session, member, points=40, actor=STAFF)
        session.commit()

    def redeem(_i: int):
        with sessions(shop.id) as session:
            try:
                entry = ledger.redeem(session, member, 10, actor=STAFF)
                session.commit()
                return entry.balance_after
            except InsufficientPoints:
                session.rollback()
                return "refused"

    results = run_together(app, 50, redeem)
    assert unexpected_errors(results) == []
    balances_after = [r[1] for r in results if r[1] != "refused"]
    assert sorted(balances_after) == list(range(0, 100, 10))  # each one saw the one before
    assert outcomes(results)["refused"] == 40
    with db(shop) as session:
        assert check_member_books(session, member.id) == (0, 0, 0)
        assert (
            session.scalar(select(func.count(ledger.Entry.id)).where(ledger.Entry.kind == "redeem"))
            == 10
        )


def test_twenty_retries_of_one_earn_write_one_entry(app, shop, make_member, db, sessions):
    member = make_member(shop)

    def earn(_i: int):
        with sessions(shop.id) as session:
            entry = ledger.earn(
                session, member, points=25, actor=STAFF, idempotency_key="pos-7:invoice-991"
            )
            session.commit()
            return entry.id

    results = run_together(app, 20, earn)
    assert unexpected_errors(results) == []
    ids = {r[1] for r in results}
    assert len(ids) == 1
    with db(shop) as session:
        assert list(session.scalars(select(ledger.Entry.id))) == list(ids)
        assert check_member_books(session, member.id) == (25, 25, 25)


def test_twenty_retries_of_one_redemption_take_the_points_once(
    app, shop, make_member, db, sessions
):
    member = make_member(shop)
    with db(shop) as session:
        ledger.earn(session, member, points=100, actor=STAFF)
        session.commit()

    def redeem(_i: int):
        with sessions(shop.id) as session:
            entry = ledger.redeem(session, member, 70, actor=STAFF, idempotency_key="till-3:88")
            session.commit()
            return entry.id

    results = run_together(app, 20, redeem)
    assert unexpected_errors(results) == []  # a retry is answered, never "not enough points"
    assert len({r[1] for r in results}) == 1
    with db(shop) as session:
        assert check_member_books(session, member.id) == (30, 30, 30)


def test_twenty_members_race_for_five_rewards(app, shop, make_member, db, sessions):
    members = [make_member(shop) for _ in range(20)]
    with db(shop) as session:
        for member in members:
            ledger.earn(session, member, points=100, actor=STAFF)
        reward = rewards.create_reward(session, name="Camiseta", points=60, stock=5)
        session.commit()

    def redeem(i: int):
        with sessions(shop.id) as session:
            try:
                redemption = rewards.redeem_reward(
                    session, members[i], rewards.get_reward(session, reward.id), actor=STAFF
                )
                session.commit()
                return redemption.status
            except OutOfStock:
                session.rollback()
                return "out of stock"

    results = run_together(app, 20, redeem)
    assert unexpected_errors(results) == []
    assert outcomes(results) == Counter({"confirmed": 5, "out of stock": 15})
    winners = {members[i].id for i, r in enumerate(results) if r[1] == "confirmed"}
    with db(shop) as session:
        assert session.get(rewards.Reward, reward.id).stock == 0
        stored = list(session.scalars(select(rewards.Redemption)))
        assert {r.member_id for r in stored} == winners
        assert all(r.status == "confirmed" for r in stored)
        for member in members:
            expected = 40 if member.id in winners else 100  # the losers' points were not taken
            assert check_member_books(session, member.id) == (expected,) * 3


def test_a_double_click_redeems_the_reward_once(app, shop, make_member, db, sessions):
    member = make_member(shop)
    with db(shop) as session:
        ledger.earn(session, member, points=500, actor=STAFF)
        reward = rewards.create_reward(session, name="Bono", points=100, stock=10)
        session.commit()

    def redeem(_i: int):
        with sessions(shop.id) as session:
            redemption = rewards.redeem_reward(
                session,
                member,
                rewards.get_reward(session, reward.id),
                actor=STAFF,
                idempotency_key="tap-42",
            )
            session.commit()
            return redemption.id

    results = run_together(app, 10, redeem)
    assert unexpected_errors(results) == []
    assert len({r[1] for r in results}) == 1
    with db(shop) as session:
        assert session.scalar(select(func.count(rewards.Redemption.id))) == 1
        assert session.get(rewards.Reward, reward.id).stock == 9
        assert check_member_books(session, member.id) == (400, 400, 400)


def test_twenty_refunds_of_one_debit_refund_it_once(app, shop, make_member, db, sessions):
    member = make_member(shop)
    with db(shop) as session:
        ledger.earn(session, member, points=100, actor=STAFF)
        debit = ledger.redeem(session, member, 80, actor=STAFF)
        session.commit()

    def refund(i: int):
        with sessions(shop.id) as session:
            try:
                entry = ledger.refund(
                    session, session.get(ledger.Entry, debit.id), actor=Actor.staff(i + 1)
                )
                session.commit()
                return entry.id
            except InvalidInput:
                session.rollback()
                return "refused"

    results = run_together(app, 20, refund)
    assert unexpected_errors(results) == []
    assert outcomes(results)["refused"] == 19
    with db(shop) as session:
        assert check_member_books(session, member.id) == (100, 100, 100)
        assert (
            session.scalar(
                select(func.count(ledger.Entry.id)).where(ledger.Entry.reverses_id == debit.id)
            )
            == 1
        )


def test_confirm_and_cancel_of_one_request_race(app, shop, make_member, db, sessions):
    member = make_member(shop)
    with db(shop) as session:
        update_program(session, {"customer_redemption_requests": True})
        ledger.earn(session, member, points=100, actor=STAFF)
        reward = rewards.create_reward(session, name="Postre", points=80, stock=3)
        session.commit()
        request = rewards.request_reward(session, member, reward)
        session.commit()

    def decide(i: int):
        decision = rewards.confirm if i % 2 else rewards.cancel
        with sessions(shop.id) as session:
            try:
                done = decision(
                    session, rewards.get_redemption(session, request.id), actor=Actor.staff(i + 1)
                )
                session.commit()
                return done.status
            except Conflict:
                session.rollback()
                return "refused"

    results = run_together(app, 12, decide)
    assert unexpected_errors(results) == []
    counts = outcomes(results)
    assert counts["refused"] == 11
    won = next(r[1] for r in results if r[1] != "refused")
    with db(shop) as session:
        stored = rewards.get_redemption(session, request.id)
        assert stored.status == won
        stock = session.get(rewards.Reward, reward.id).stock
        refunds = session.scalar(
            select(func.count(ledger.Entry.id)).where(ledger.Entry.kind == "refund")
        )
        audit = check_member_books(session, member.id)
    if won == "confirmed":
        assert (stock, refunds, audit) == (2, 0, (20, 20, 20))
    else:
        assert won == "cancelled"
        assert (stock, refunds, audit) == (3, 1, (100, 100, 100))
        assert stored.refund_entry_id is not None


def test_expiry_runs_while_members_redeem(app, shop, make_member, db, sessions):
    members = [make_member(shop) for _ in range(6)]
    now = datetime.now(UTC)
    with db(shop) as session:
        update_program(session, {"expiry_months": 1})
        session.commit()
    with clock_at(now - timedelta(days=70)), db(shop) as session:
        old = {m.id: ledger.earn(session, m, points=100, actor=STAFF).id for m in members}
        session.commit()
    with db(shop) as session:
        for member in members:
            ledger.earn(session, member, points=100, actor=STAFF)  # due in a month
        session.commit()

    redeemers = [(m, n) for m in members for n in range(4)]  # 4 × 30 from each member

    def work(i: int):
        with sessions(shop.id) as session:
            if i < 2:
                written = ledger.expire_due(session, now)
                session.commit()
                return ("expired", written)
            member, _n = redeemers[i - 2]
            try:
                ledger.redeem(session, member, 30, actor=STAFF)
                session.commit()
                return ("redeemed", member.id)
            except InsufficientPoints:
                session.rollback()
                return ("refused", member.id)

    results = run_together(app, 2 + len(redeemers), work)
    assert unexpected_errors(results) == []
    done = [r[1] for r in results]
    written = sum(n for kind, n in done if kind == "expired")
    redeemed = Counter(member_id for kind, member_id in done if kind == "redeemed")
    refused = Counter(member_id for kind, member_id in done if kind == "refused")
    with db(shop) as session:
        expired = Counter()
        for member_id, points in session.execute(
            select(ledger.Entry.member_id, ledger.Entry.points).where(ledger.Entry.kind == "expire")
        ):
            expired[member_id] += -points
        assert written == len(expired)  # one entry per member at most, however they raced
        assert all(
            v == 1
            for v in Counter(
                session.scalars(select(ledger.Entry.member_id).where(ledger.Entry.kind == "expire"))
            ).values()
        )
        for member in members:
            balance = check_member_books(session, member.id)[0]
            assert balance == 200 - 30 * redeemed[member.id] - expired[member.id]
            assert redeemed[member.id] + refused[member.id] == 4
            if refused[member.id]:  # balances only went down: a refusal means little was left
                assert balance < 30
            old_lot = session.scalar(
                select(ledger.Lot).where(ledger.Lot.entry_id == old[member.id])
            )
            assert old_lot.remaining == 0  # expired or used: nothing due is left
            # the expiry took exactly what the redemptions had left of the old lot
            expiry_lots = session.execute(
                select(ledger.Allocation.lot_id, ledger.Allocation.points)
                .join(ledger.Entry, ledger.Entry.id == ledger.Allocation.entry_id)
                .where(ledger.Entry.kind == "expire", ledger.Entry.member_id == member.id)
            ).all()
            assert [tuple(a) for a in expiry_lots] == (
                [(old_lot.id, expired[member.id])] if expired[member.id] else []
            )


def wait_until_waiting_for_a_lock(db, tenant, pid: int) -> None:
    """Poll until backend `pid` waits for a lock (a bound of 60 s, not a timing assertion)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with db(tenant) as session:
            if session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE pid = :pid AND wait_event_type = 'Lock'"
                ),
                {"pid": pid},
            ):
                return
        time.sleep(0.02)
    raise AssertionError("the second run never waited for the first one's locks")


def test_two_expiry_runs_at_once(app, shop, make_member, db, sessions):
    """The second run waits for the member locks of the first, then finds nothing due
    (a member it locked while it still had points due is no longer due: no error)."""
    members = [make_member(shop) for _ in range(3)]
    now = datetime.now(UTC)
    with db(shop) as session:
        update_program(session, {"expiry_months": 1})
        session.commit()
    with clock_at(now - timedelta(days=70)), db(shop) as session:
        for member in members:
            ledger.earn(session, member, points=50, actor=STAFF)
        session.commit()
    with db(shop) as session:
        ledger.earn(session, members[0], points=10, actor=STAFF)  # not due
        session.commit()

    locked, release = threading.Event(), threading.Event()
    second_pid: list[int] = []
    results: dict[str, Any] = {}

    def first() -> None:
        try:
            with app.app_context(), sessions(shop.id) as session:
                results["first"] = ledger.expire_due(session, now)
                locked.set()
                release.wait(60)  # hold the member locks until the second run waits
                session.commit()
        except BaseException as exc:
            results["first"] = exc
            locked.set()

    def second() -> None:
        try:
            with app.app_context(), sessions(shop.id) as session:
                second_pid.append(session.scalar(text("SELECT pg_backend_pid()")))
                results["second"] = ledger.expire_due(session, now)
                session.commit()
        except BaseException as exc:
            results["second"] = exc

    threads = [threading.Thread(target=first, daemon=True)]
    threads[0].start()
    assert locked.wait(60)
    threads.append(threading.Thread(target=second, daemon=True))
    threads[1].start()
    try:
        deadline = time.monotonic() + 60
        while not second_pid and time.monotonic() < deadline:
            time.sleep(0.01)
        wait_until_waiting_for_a_lock(db, shop, second_pid[0])
    finally:
        release.set()
        for thread in threads:
            thread.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads)
    assert results == {"first": 3, "second": 0}
    with db(shop) as session:
        for member in members:
            expected = 10 if member is members[0] else 0
            assert check_member_books(session, member.id) == (expected,) * 3
        assert (
            session.scalar(select(func.count(ledger.Entry.id)).where(ledger.Entry.kind == "expire"))
            == 3
        )


def test_expiry_waiting_for_a_redemption_that_uses_the_due_points(
    app, shop, make_member, db, sessions
):
    """The expiry locks the members with points due; one of them is busy redeeming
    exactly those points. Once it gets the lock that member has nothing due any more:
    the others' points expire and that member's balance is left alone."""
    busy, other = make_member(shop), make_member(shop)
    now = datetime.now(UTC)
    with db(shop) as session:
        update_program(session, {"expiry_months": 1})
        session.commit()
    with clock_at(now - timedelta(days=70)), db(shop) as session:
        ledger.earn(session, busy, points=100, actor=STAFF)
        ledger.earn(session, other, points=50, actor=STAFF)
        session.commit()
    with db(shop) as session:
        ledger.earn(session, busy, points=20, actor=STAFF)  # not due
        session.commit()

    expiry_pid: list[int] = []
    results: dict[str, Any] = {}

    def expire() -> None:
        try:
            with app.app_context(), sessions(shop.id) as session:
                expiry_pid.append(session.scalar(text("SELECT pg_backend_pid()")))
                results["expired"] = ledger.expire_due(session, now)
                session.commit()
        except BaseException as exc:
            results["expired"] = exc

    thread = threading.Thread(target=expire, daemon=True)
    with sessions(shop.id) as session:
        ledger.redeem(session, busy, 100, actor=STAFF)  # the due lot first: all of it
        thread.start()  # the expiry now waits for `busy`'s row lock
        try:
            deadline = time.monotonic() + 60
            while not expiry_pid and time.monotonic() < deadline:
                time.sleep(0.01)
            wait_until_waiting_for_a_lock(db, shop, expiry_pid[0])
        finally:
            session.commit()
    thread.join(JOIN_TIMEOUT)
    assert not thread.is_alive()
    assert results == {"expired": 1}
    with db(shop) as session:
        assert check_member_books(session, busy.id) == (20, 20, 20)
        assert check_member_books(session, other.id) == (0, 0, 0)


def test_concurrent_sign_ups_of_one_person_make_one_member(app, shop, sessions):
    """Ten tills register the same new customer at once: one member, nine clear 409s."""
    from core.loyalty.customers import create_member
    from core.loyalty.members import Customer, Membership

    def work(_i: int) -> str:
        with sessions(shop.id) as session:
            try:
                member = create_member(
                    session,
                    email="ana@cliente.example",
                    first_name="Ana",
                    document_id="CC-1020",
                    actor=STAFF,
                )
                session.commit()
                return member.code
            except Conflict:
                session.rollback()
                return "refused"

    results = run_together(app, 10, work)
    assert unexpected_errors(results) == []
    counts = outcomes(results)
    assert counts["refused"] == 9 and sum(counts.values()) == 10
    with sessions(shop.id) as session:
        assert session.scalar(select(func.count(Membership.id))) == 1
        assert (
            session.scalar(
                select(func.count(Customer.id))
                .where(Customer.email == "ana@cliente.example")
                .execution_options(person_lookup=True)
            )
            == 1
        )
