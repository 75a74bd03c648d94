"""Rewards and redemptions: staff hand-overs, customer requests, stock, idempotency."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.host.actors import Actor
from core.host.errors import (
    Conflict,
    IdempotencyMismatch,
    InsufficientPoints,
    InvalidInput,
    NotFound,
    OutOfStock,
)
from core.loyalty import ledger, rewards
from core.loyalty.members import Membership
from core.loyalty.program import MAX_POINTS_PER_OPERATION, update_program
from core.loyalty.rewards import Redemption, Reward, Status
from tests.concurrency import finished_while_held

STAFF = Actor.staff(1)


@pytest.fixture
def shop(make_tenant, db):
    return make_tenant()


@pytest.fixture
def requests_on(shop, db):
    with db(shop) as session:
        update_program(session, {"customer_redemption_requests": True})
        session.commit()
    return shop


def give(db, tenant, member, points):
    with db(tenant) as session:
        ledger.earn(session, member, points=points, actor=STAFF)
        session.commit()


def make_reward(db, tenant, **fields):
    fields.setdefault("name", "Café gratis")
    fields.setdefault("points", 100)
    with db(tenant) as session:
        reward = rewards.create_reward(session, **fields)
        session.commit()
        return reward


def state(db, tenant, member_id, reward_id=None):
    """(balance, audit, entry count, redemption count, stock) as the database has them."""
    with db(tenant) as session:
        balance = session.scalar(select(Membership.balance).where(Membership.id == member_id))
        return {
            "balance": balance,
            "audit": ledger.audit_member(session, member_id),
            "entries": session.scalar(select(func.count(ledger.Entry.id))),
            "redemptions": session.scalar(select(func.count(Redemption.id))),
            "stock": session.get(Reward, reward_id).stock if reward_id else None,
        }


def lots_of(db, tenant, member_id):
    with db(tenant) as session:
        return {
            lot.entry_id: lot.remaining
            for lot in session.scalars(select(ledger.Lot).where(ledger.Lot.member_id == member_id))
        }


# --- staff redemption ------------------------------------------------------------


def test_staff_redemption_is_confirmed_at_once(shop, make_member, db):
    member = make_member(shop)
    give(db, shop, member, 250)
    reward = make_reward(db, shop, name="  Café gratis ", points=100, stock=3)
    assert reward.name == "Café gratis"
    with db(shop) as session:
        redemption = rewards.redeem_reward(session, member, reward, actor=STAFF)
        session.commit()
        entry = session.get(ledger.Entry, redemption.entry_id)
    assert redemption.status == Status.CONFIRMED
    assert (redemption.points, redemption.member_id, redemption.reward_id) == (
        100,
        member.id,
        reward.id,
    )
    assert (redemption.decided_by_kind, redemption.decided_by_id) == ("staff", 1)
    assert redemption.decided_at is not None
    assert (entry.kind, entry.points, entry.balance_after) == ("redeem", -100, 150)
    assert entry.description == "Café gratis"
    after = state(db, shop, member.id, reward.id)
    assert after["stock"] == 2
    assert after["audit"] == (150, 150, 150)


def test_the_sessions_reward_is_told_the_stock_left(shop, make_member, db):
    # The stock's UPDATE returns what it left: the session's reward knows it, with no
    # change of its own pending (a second UPDATE at flush would write a stale figure).
    member = make_member(shop)
    give(db, shop, member, 300)
    reward = make_reward(db, shop, points=100, stock=5)
    with db(shop) as session:
        mine = session.get(Reward, reward.id)
        rewards.redeem_reward(session, member, mine, actor=STAFF)
        rewards.redeem_reward(session, member, mine, actor=STAFF)
        assert mine.stock == 3
        assert mine not in session.dirty
        session.commit()
    assert state(db, shop, member.id, reward.id)["stock"] == 3


def test_unlimited_stock_stays_unlimited(shop, make_member, db):
    member = make_member(shop)
    give(db, shop, member, 300)
    reward = make_reward(db, shop, points=100, stock=None)
    with db(shop) as session:
        for _ in range(3):
            rewards.redeem_reward(session, member, reward, actor=STAFF)
        session.commit()
    after = state(db, shop, member.id, reward.id)
    assert after["stock"] is None
    assert after["redemptions"] == 3
    assert after["audit"] == (0, 0, 0)


def test_inactive_reward_is_refused(shop, make_member, db):
    member = make_member(shop)
    give(db, shop, member, 500)
    reward = make_reward(db, shop, active=False, stock=4)
    before = state(db, shop, member.id, reward.id)
    with db(shop) as session:
        with pytest.raises(Conflict):
            rewards.redeem_reward(session, member, reward, actor=STAFF)
        session.rollback()
    assert state(db, shop, member.id, reward.id) == before
    with db(shop) as session:
        assert rewards.active_rewards(session) == []


def test_out_of_stock_is_refused_and_writes_nothing(shop, make_member, db):
    member = make_member(shop)
    give(db, shop, member, 500)
    reward = make_reward(db, shop, points=100, stock=1)
    with db(shop) as session:
        rewards.redeem_reward(session, member, reward, actor=STAFF)
        session.commit()
    before = state(db, shop, member.id, reward.id)
    assert before["stock"] == 0
    with db(shop) as session:
        with pytest.raises(OutOfStock):
            rewards.redeem_reward(session, member, session.get(Reward, reward.id), actor=STAFF)
        session.rollback()
    assert state(db, shop, member.id, reward.id) == before


def test_stale_stock_is_refused_by_the_database(shop, make_member, db):
    """A reward read while it had stock, redeemed after the last one went: still refused."""
    first, second = make_member(shop), make_member(shop)
    give(db, shop, first, 100)
    give(db, shop, second, 100)
    reward = make_reward(db, shop, points=100, stock=1)
    stale = reward  # detached, stock 1 in memory
    with db(shop) as session:
        rewards.redeem_reward(session, first, session.get(Reward, reward.id), actor=STAFF)
        session.commit()
    before = state(db, shop, second.id, reward.id)
    with db(shop) as session:
        with pytest.raises(OutOfStock):
            rewards.redeem_reward(session, second, stale, actor=STAFF)
        session.rollback()
    assert state(db, shop, second.id, reward.id) == before
    assert before["audit"] == (100, 100, 100)


def test_not_enough_points_writes_nothing(shop, make_member, db):
    member = make_member(shop)
    give(db, shop, member, 99)
    reward = make_reward(db, shop, points=100, stock=2)
    before = state(db, shop, member.id, reward.id)
    with db(shop) as session:
        with pytest.raises(InsufficientPoints):
            rewards.redeem_reward(session, member, reward, actor=STAFF)
        session.rollback()
    assert state(db, shop, member.id, reward.id) == before


# --- customer requests -----------------------------------------------------------


def test_customer_requests_need_the_program_setting(shop, make_member, db):
    member = make_member(shop)
    give(db, shop, member, 200)
    reward = make_reward(db, shop)
    before = state(db, shop, member.id, reward.id)
    with db(shop) as session:
        with pytest.raises(Conflict):
            rewards.request_reward(session, member, reward)
        session.rollback()
    assert state(db, shop, member.id, reward.id) == before


def test_customer_request_holds_the_points(requests_on, make_member, db):
    shop = requests_on
    member = make_member(shop)
    give(db, shop, member, 150)
    reward = make_reward(db, shop, points=100, stock=2)
    with db(shop) as session:
        redemption = rewards.request_reward(session, member, reward)
        session.commit()
    assert redemption.status == Status.REQUESTED
    assert (redemption.requested_by_kind, redemption.requested_by_id) == (
        "customer",
        member.customer_id,
    )
    assert redemption.decided_at is None and redemption.decided_by_kind is None
    after = state(db, shop, member.id, reward.id)
    assert after["audit"] == (50, 50, 50)
    assert after["stock"] == 2  # the stock goes down only when staff confirm


def test_confirm_lowers_the_stock(requests_on, make_member, db):
    shop = requests_on
    member = make_member(shop)
    give(db, shop, member, 150)
    reward = make_reward(db, shop, points=100, stock=2)
    with db(shop) as session:
        redemption = rewards.request_reward(session, member, reward)
        session.commit()
    with db(shop) as session:
        confirmed = rewards.confirm(session, redemption, actor=STAFF)
        session.commit()
    assert confirmed.status == Status.CONFIRMED
    assert (confirmed.decided_by_kind, confirmed.decided_by_id) == ("staff", 1)
    assert confirmed.decided_at is not None
    after = state(db, shop, member.id, reward.id)
    assert after["stock"] == 1
    assert after["audit"] == (50, 50, 50)


def test_cancel_refunds_into_the_same_lots(requests_on, make_member, db):
    shop = requests_on
    member = make_member(shop)
    with db(shop) as session:
        first = ledger.earn(session, member, points=60, actor=STAFF)
        second = ledger.earn(session, member, points=60, actor=STAFF)
        session.commit()
    reward = make_reward(db, shop, points=100, stock=2)
    with db(shop) as session:
        redemption = rewards.request_reward(session, member, reward)
        session.commit()
    assert lots_of(db, shop, member.id) == {first.id: 0, second.id: 20}
    with db(shop) as session:
        cancelled = rewards.cancel(session, redemption, actor=STAFF)
        session.commit()
        refund = session.get(ledger.Entry, cancelled.refund_entry_id)
    assert cancelled.status == Status.CANCELLED
    assert (refund.kind, refund.points, refund.reverses_id, refund.balance_after) == (
        "refund",
        100,
        redemption.entry_id,
        120,
    )
    assert lots_of(db, shop, member.id) == {first.id: 60, second.id: 60}
    after = state(db, shop, member.id, reward.id)
    assert after["audit"] == (120, 120, 120)
    assert after["stock"] == 2


@pytest.mark.parametrize("decided", ["confirm", "cancel"])
def test_a_decided_request_cannot_be_decided_again(requests_on, make_member, db, decided):
    shop = requests_on
    member = make_member(shop)
    give(db, shop, member, 100)
    reward = make_reward(db, shop, points=100, stock=5)
    with db(shop) as session:
        redemption = rewards.request_reward(session, member, reward)
        session.commit()
    with db(shop) as session:
        getattr(rewards, decided)(session, redemption, actor=STAFF)
        session.commit()
    before = state(db, shop, member.id, reward.id)
    for again in (rewards.confirm, rewards.cancel):
        with db(shop) as session:
            with pytest.raises(Conflict):
                again(session, redemption, actor=STAFF)
            session.rollback()
        assert state(db, shop, member.id, reward.id) == before


def test_staff_redemption_cannot_be_confirmed_or_cancelled(shop, make_member, db):
    member = make_member(shop)
    give(db, shop, member, 100)
    reward = make_reward(db, shop, points=100, stock=5)
    with db(shop) as session:
        redemption = rewards.redeem_reward(session, member, reward, actor=STAFF)
        session.commit()
    before = state(db, shop, member.id, reward.id)
    for decide in (rewards.confirm, rewards.cancel):
        with db(shop) as session:
            with pytest.raises(Conflict):
                decide(session, redemption, actor=STAFF)
            session.rollback()
    assert state(db, shop, member.id, reward.id) == before
    assert before["stock"] == 4


def test_confirm_without_stock_is_refused_and_the_request_stays(requests_on, make_member, db):
    shop = requests_on
    member = make_member(shop)
    give(db, shop, member, 100)
    reward = make_reward(db, shop, points=100, stock=1)
    with db(shop) as session:
        redemption = rewards.request_reward(session, member, reward)
        rewards.update_reward(session, session.get(Reward, reward.id), stock=0)
        session.commit()
    with db(shop) as session:
        with pytest.raises(OutOfStock):
            rewards.confirm(session, redemption, actor=STAFF)
        session.rollback()
    with db(shop) as session:
        assert rewards.get_redemption(session, redemption.id).status == Status.REQUESTED
        assert session.get(Reward, reward.id).stock == 0
        assert ledger.audit_member(session, member.id) == (0, 0, 0)


# --- idempotency -----------------------------------------------------------------


def test_same_key_returns_the_same_redemption(shop, make_member, db):
    member = make_member(shop)
    give(db, shop, member, 300)
    reward = make_reward(db, shop, points=100, stock=5)
    with db(shop) as session:
        first = rewards.redeem_reward(session, member, reward, actor=STAFF, idempotency_key="r-1")
        session.commit()
    after_first = state(db, shop, member.id, reward.id)
    with db(shop) as session:
        again = rewards.redeem_reward(session, member, reward, actor=STAFF, idempotency_key="r-1")
        session.commit()
    assert again.id == first.id and again.entry_id == first.entry_id
    assert state(db, shop, member.id, reward.id) == after_first
    assert after_first["audit"] == (200, 200, 200)
    assert after_first["stock"] == 4


def test_same_key_for_a_request_returns_the_same_request(requests_on, make_member, db):
    shop = requests_on
    member = make_member(shop)
    give(db, shop, member, 300)
    reward = make_reward(db, shop, points=100)
    with db(shop) as session:
        first = rewards.request_reward(session, member, reward, idempotency_key="app-7")
        session.commit()
    with db(shop) as session:
        again = rewards.request_reward(session, member, reward, idempotency_key="app-7")
        session.commit()
    assert again.id == first.id
    assert state(db, shop, member.id)["audit"] == (200, 200, 200)


def test_same_key_for_another_reward_is_a_mismatch(shop, make_member, db):
    member = make_member(shop)
    give(db, shop, member, 300)
    coffee = make_reward(db, shop, name="Café", points=100, stock=5)
    cake = make_reward(db, shop, name="Torta", points=100, stock=5)
    with db(shop) as session:
        rewards.redeem_reward(session, member, coffee, actor=STAFF, idempotency_key="r-2")
        session.commit()
    before = state(db, shop, member.id, cake.id)
    with db(shop) as session:
        with pytest.raises(IdempotencyMismatch):
            rewards.redeem_reward(session, member, cake, actor=STAFF, idempotency_key="r-2")
        session.rollback()
    assert state(db, shop, member.id, cake.id) == before
    assert before["stock"] == 5


def test_same_key_for_another_member_is_a_mismatch(shop, make_member, db):
    ana, ben = make_member(shop), make_member(shop)
    give(db, shop, ana, 100)
    give(db, shop, ben, 100)
    reward = make_reward(db, shop, points=100, stock=5)
    with db(shop) as session:
        rewards.redeem_reward(session, ana, reward, actor=STAFF, idempotency_key="r-3")
        session.commit()
    before = state(db, shop, ben.id, reward.id)
    with db(shop) as session:
        with pytest.raises(IdempotencyMismatch):
            rewards.redeem_reward(session, ben, reward, actor=STAFF, idempotency_key="r-3")
        session.rollback()
    assert state(db, shop, ben.id, reward.id) == before


# --- validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"points": 0}, {"points"}),
        ({"points": -5}, {"points"}),
        ({"points": 1.5}, {"points"}),
        ({"points": "100"}, {"points"}),
        ({"points": True}, {"points"}),
        ({"points": MAX_POINTS_PER_OPERATION + 1}, {"points"}),
        ({"stock": -1}, {"stock"}),
        ({"stock": 2.5}, {"stock"}),
        ({"name": ""}, {"name"}),
        ({"name": "   "}, {"name"}),
        ({"name": " ", "points": 0, "stock": -1}, {"name", "points", "stock"}),
    ],
)
def test_create_reward_validates(shop, db, fields, bad):
    values = {"name": "Café", "points": 100, "stock": None, **fields}
    with db(shop) as session:
        with pytest.raises(InvalidInput) as refused:
            rewards.create_reward(session, **values)
        assert set(refused.value.fields) == bad
        session.rollback()
        assert session.scalar(select(func.count(Reward.id))) == 0


def test_create_reward_accepts_the_limits(shop, db):
    with db(shop) as session:
        cheapest = rewards.create_reward(session, name="Sticker", points=1, stock=0)
        dearest = rewards.create_reward(session, name="Viaje", points=MAX_POINTS_PER_OPERATION)
        session.commit()
    assert (cheapest.points, cheapest.stock, dearest.stock) == (1, 0, None)


@pytest.mark.parametrize(
    ("changes", "bad"),
    [
        ({"points": 0}, {"points"}),
        ({"points": "abc"}, {"points"}),
        ({"stock": -3}, {"stock"}),
        ({"name": "  "}, {"name"}),
        ({"colour": "red"}, {"colour"}),
    ],
)
def test_update_reward_validates_and_changes_nothing_when_refused(shop, db, changes, bad):
    reward = make_reward(db, shop, name="Café", points=100, stock=7)
    with db(shop) as session:
        with pytest.raises(InvalidInput) as refused:
            rewards.update_reward(session, session.get(Reward, reward.id), **changes)
        assert set(refused.value.fields) == bad
        session.rollback()
    with db(shop) as session:
        stored = session.get(Reward, reward.id)
        assert (stored.name, stored.points, stored.stock) == ("Café", 100, 7)


def test_update_reward_changes_fields(shop, db):
    reward = make_reward(db, shop, name="Café", points=100, stock=7)
    with db(shop) as session:
        rewards.update_reward(
            session,
            session.get(Reward, reward.id),
            name=" Café doble ",
            points=180,
            stock=None,
            active=False,
        )
        session.commit()
    with db(shop) as session:
        stored = session.get(Reward, reward.id)
        assert (stored.name, stored.points, stored.stock, stored.active) == (
            "Café doble",
            180,
            None,
            False,
        )


# --- what a member sees, and withdrawing their own request -------------------------------


def test_offers_say_what_the_member_still_misses_and_what_is_left(shop, make_member, db):
    member = make_member(shop)
    give(db, shop, member, 120)
    coffee = make_reward(db, shop, name="Café", points=50)
    cake = make_reward(db, shop, name="Torta", points=200, stock=3)
    mug = make_reward(db, shop, name="Taza", points=80, stock=0)
    make_reward(db, shop, name="Retirada", points=10, active=False)
    with db(shop) as session:
        seen = [
            (o.reward.id, o.missing, o.in_stock, o.within_reach)
            for o in rewards.offers(session, session.get(Membership, member.id))
        ]
        assert seen == [
            (coffee.id, 0, True, True),
            (mug.id, 0, False, False),
            (cake.id, 80, True, False),
        ]
        # not a member yet: no points, everything is missing
        assert [o.missing for o in rewards.offers(session, None)] == [50, 80, 200]


def test_held_points_are_off_what_the_member_has(requests_on, make_member, db):
    shop = requests_on
    member = make_member(shop)
    give(db, shop, member, 150)
    reward = make_reward(db, shop, points=100)
    with db(shop) as session:
        rewards.request_reward(session, member, reward)
        session.commit()
        offer = rewards.offers(session, session.get(Membership, member.id))[0]
    assert (offer.missing, offer.within_reach) == (50, False)


def test_requests_of_are_the_members_own_app_requests_newest_first(requests_on, make_member, db):
    shop = requests_on
    member, other = make_member(shop), make_member(shop)
    give(db, shop, member, 500)
    give(db, shop, other, 500)
    reward = make_reward(db, shop, points=100)
    with db(shop) as session:
        first = rewards.request_reward(session, member, reward).id
        rewards.redeem_reward(session, member, reward, actor=STAFF)  # at the till: history
        rewards.request_reward(session, other, reward)
        second = rewards.request_reward(session, member, reward).id
        session.commit()
        mine = rewards.requests_of(session, session.get(Membership, member.id))
    assert [r.id for r in mine] == [second, first]


def test_a_customer_short_of_points_is_told_in_their_words(requests_on, make_member, db):
    shop = requests_on
    member = make_member(shop)
    give(db, shop, member, 99)
    reward = make_reward(db, shop, points=100)
    before = state(db, shop, member.id, reward.id)
    with db(shop) as session:
        with pytest.raises(InsufficientPoints) as refused:
            rewards.request_reward(session, member, reward)
        session.rollback()
    assert str(refused.value.message) == "Aún no tienes puntos suficientes para esta recompensa."
    assert state(db, shop, member.id, reward.id) == before


def test_withdraw_request_gives_the_points_back_into_the_same_lots(requests_on, make_member, db):
    shop = requests_on
    member = make_member(shop)
    with db(shop) as session:
        first = ledger.earn(session, member, points=60, actor=STAFF)
        second = ledger.earn(session, member, points=60, actor=STAFF)
        session.commit()
    reward = make_reward(db, shop, points=100, stock=2)
    with db(shop) as session:
        redemption = rewards.request_reward(session, member, reward)
        session.commit()
    with db(shop) as session:
        withdrawn = rewards.withdraw_request(session, member, redemption.id)
        session.commit()
        assert (withdrawn.status, withdrawn.decided_by_kind, withdrawn.decided_by_id) == (
            Status.CANCELLED,
            "customer",
            member.customer_id,
        )
    assert lots_of(db, shop, member.id) == {first.id: 60, second.id: 60}
    after = state(db, shop, member.id, reward.id)
    assert after["audit"] == (120, 120, 120) and after["stock"] == 2
    # again (a double tap): the same request, no second refund
    with db(shop) as session:
        assert rewards.withdraw_request(session, member, redemption.id).id == redemption.id
        session.commit()
    assert state(db, shop, member.id, reward.id) == after


def test_withdraw_request_is_only_for_the_members_own_pending_request(requests_on, make_member, db):
    shop = requests_on
    member, other = make_member(shop), make_member(shop)
    give(db, shop, member, 300)
    reward = make_reward(db, shop, points=100, stock=5)
    with db(shop) as session:
        pending = rewards.request_reward(session, member, reward)
        handed = rewards.redeem_reward(session, member, reward, actor=STAFF)
        confirmed = rewards.request_reward(session, member, reward)
        rewards.confirm(session, confirmed, actor=STAFF)
        session.commit()
    before = state(db, shop, member.id, reward.id)
    attempts = [
        (other, pending.id, NotFound),  # someone else's request
        (member, handed.id, NotFound),  # staff's hand-over is no request of theirs
        (member, confirmed.id, Conflict),
        (member, 2**31, NotFound),
        (member, 10**30, NotFound),
    ]
    for who, redemption_id, error in attempts:
        with db(shop) as session:
            with pytest.raises(error):
                rewards.withdraw_request(session, who, redemption_id)
            session.rollback()
    assert state(db, shop, member.id, reward.id) == before


def test_ids_beyond_the_columns_name_nothing(shop, db):
    with db(shop) as session:
        for lookup in (rewards.get_reward, rewards.get_redemption):
            for bad in (0, -1, 2**31, 10**30):
                with pytest.raises(NotFound):
                    lookup(session, bad)


@pytest.mark.postgres  # SQLite has no row locks
def test_tills_redeeming_one_unlimited_reward_do_not_queue_behind_each_other(
    app, shop, make_member, db
):
    """An unlimited reward has no stock to take: its redemption writes nothing on the
    reward's row. A write there (stock = NULL - 1) locked the row until the redemption's
    commit, and every till redeeming the same reward queued behind it."""
    first, second = make_member(shop), make_member(shop)
    give(db, shop, first, 100)
    give(db, shop, second, 100)
    reward = make_reward(db, shop, points=100, stock=None)

    def second_till() -> None:
        with db(shop) as session:
            rewards.redeem_reward(session, second, session.get(Reward, reward.id), actor=STAFF)
            session.commit()

    with db(shop) as session:
        rewards.redeem_reward(session, first, session.get(Reward, reward.id), actor=STAFF)
        assert finished_while_held(app, session, second_till), "the second till waited"
    after = state(db, shop, second.id, reward.id)
    assert (after["stock"], after["redemptions"], after["balance"]) == (None, 2, 0)


def test_a_reward_limited_since_it_was_read_is_taken_from_its_stock(shop, make_member, db):
    """Read while unlimited, given a stock before the redemption: the stock goes down (the
    redemption asks the database, not the reward as read)."""
    member = make_member(shop)
    give(db, shop, member, 100)
    reward = make_reward(db, shop, points=100, stock=None)
    with db(shop) as session:
        rewards.update_reward(session, session.get(Reward, reward.id), stock=2)
        session.commit()
    with db(shop) as session:
        rewards.redeem_reward(session, member, reward, actor=STAFF)  # `reward`: stock None
        session.commit()
    assert state(db, shop, member.id, reward.id)["stock"] == 1
