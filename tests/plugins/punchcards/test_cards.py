"""Punch cards from the merchant's side: every 10 coffees a toast, returns, prizes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from core.host.actors import Actor
from core.host.errors import Conflict, InvalidInput, NotFound
from core.loyalty.locations import create_location
from core.loyalty.members import Membership
from core.loyalty.purchases import Item, record_purchase, return_purchase
from plugins.punchcards import cards
from plugins.punchcards.cards import PrizeCancelled, PrizeClaimed, Progress
from plugins.punchcards.models import Prize, Punch
from tests.concurrency import run_together, unexpected_errors

CASHIER = Actor.staff(7)
COFFEE = {
    "key": "cafe",
    "name": "Café",
    "product_group": "cafe",
    "size": 10,
    "prize": "Una tostada",
}
MENU = {
    "key": "menu",
    "name": "Menú del día",
    "sku": "MENU-DIA",
    "size": 10,
    "prize": "Un menú gratis",
}


@pytest.fixture
def plan(make_plan):
    return make_plan("cards", {"punchcards"})


def _shop(make_tenant, db, platform):
    tenant = make_tenant(plan="cards")
    with db(tenant) as session:
        platform.plugins.save_settings(session, "punchcards", {"cards": [COFFEE, MENU]})
        session.commit()
    return tenant


@pytest.fixture
def shop(plan, make_tenant, db, platform):
    return _shop(make_tenant, db, platform)


def coffees(n, *, sku="CAF-1"):
    return Item(quantity=n, unit_price=Decimal("4500"), sku=sku, product_group="cafe")


def buy(db, tenant, member, *items, key=None):
    with db(tenant) as session:
        amount = sum((i.unit_price * i.quantity for i in items), Decimal(0)) or Decimal("1000")
        purchase, _entries = record_purchase(
            session,
            session.get(Membership, member.id),
            amount,
            actor=CASHIER,
            items=list(items),
            idempotency_key=key,
        )
        session.commit()
        return purchase.id


def give_back(db, tenant, purchase_id):
    from core.loyalty.purchases import get_purchase

    with db(tenant) as session:
        return_purchase(session, get_purchase(session, purchase_id), actor=CASHIER)
        session.commit()


def state(db, tenant, member):
    """(progress of each card, [(prize, status)] oldest first)."""
    with db(tenant) as session:
        m = session.get(Membership, member.id)
        return (
            cards.progress(session, m),
            [(p.name, p.status) for p in reversed(cards.prizes(session, m))],
        )


def prize_ids(db, tenant, member, status="issued"):
    with db(tenant) as session:
        return [
            p.id
            for p in reversed(
                cards.prizes(session, session.get(Membership, member.id), status=status)
            )
        ]


def claim(db, tenant, prize_id, **kwargs):
    with db(tenant) as session:
        prize = cards.claim_prize(
            session, cards.get_prize(session, prize_id), actor=CASHIER, **kwargs
        )
        session.commit()
        return prize


# --- punching --------------------------------------------------------------------


def test_seven_of_ten_then_exactly_ten_gives_a_toast(shop, make_member, db):
    member = make_member(shop)
    assert state(db, shop, member) == (
        [Progress("Café", 0, 10), Progress("Menú del día", 0, 10)],
        [],
    )
    for n in (2, 2, 3):
        buy(db, shop, member, coffees(n))
    assert state(db, shop, member) == (
        [Progress("Café", 7, 10), Progress("Menú del día", 0, 10)],
        [],
    )
    buy(db, shop, member, coffees(2))
    assert state(db, shop, member)[0][0] == Progress("Café", 9, 10)  # one short: nothing yet
    last = buy(db, shop, member, coffees(1))
    assert state(db, shop, member) == (
        [Progress("Café", 0, 10), Progress("Menú del día", 0, 10)],
        [("Una tostada", "issued")],
    )
    with db(shop) as session:
        (prize,) = session.scalars(select(Prize))
        assert (prize.member_id, prize.card, prize.card_name, prize.size, prize.purchase_id) == (
            member.id,
            "cafe",
            "Café",
            10,
            last,
        )


def test_twenty_coffees_in_one_purchase_complete_two_cards(shop, make_member, db):
    member = make_member(shop)
    buy(db, shop, member, coffees(12), coffees(8, sku="CAF-2"))  # two lines of the group
    assert state(db, shop, member) == (
        [Progress("Café", 0, 10), Progress("Menú del día", 0, 10)],
        [("Una tostada", "issued"), ("Una tostada", "issued")],
    )
    buy(db, shop, member, coffees(23))  # two more and 3 towards the next
    progress, won = state(db, shop, member)
    assert progress[0] == Progress("Café", 3, 10) and len(won) == 4


def test_only_matching_lines_punch(shop, make_member, db):
    member = make_member(shop)
    buy(
        db,
        shop,
        member,
        Item(quantity=4, unit_price=Decimal("9000"), sku="TOSTADA", product_group="panaderia"),
        Item(quantity=3, unit_price=Decimal("18000"), sku="MENU-DIA", product_group="menus"),
        Item(quantity=1, unit_price=Decimal("4500"), product_group="cafe"),
    )
    assert state(db, shop, member)[0] == [Progress("Café", 1, 10), Progress("Menú del día", 3, 10)]
    with db(shop) as session:
        assert sorted((p.card, p.punches, p.prizes) for p in session.scalars(select(Punch))) == [
            ("cafe", 1, 0),
            ("menu", 3, 0),
        ]


def test_a_retried_purchase_punches_once(shop, make_member, db):
    member = make_member(shop)
    first = buy(db, shop, member, coffees(6), key="till-1:0042")
    again = buy(db, shop, member, coffees(6), key="till-1:0042")
    assert first == again
    assert state(db, shop, member)[0][0] == Progress("Café", 6, 10)


def test_an_inactive_card_neither_punches_nor_shows(shop, make_member, db, platform):
    member = make_member(shop)
    buy(db, shop, member, coffees(4))
    with db(shop) as session:
        platform.plugins.save_settings(
            session, "punchcards", {"cards": [{**COFFEE, "active": False}, MENU]}
        )
        session.commit()
    buy(db, shop, member, coffees(9))
    assert state(db, shop, member) == ([Progress("Menú del día", 0, 10)], [])
    with db(shop) as session:
        platform.plugins.save_settings(session, "punchcards", {"cards": [COFFEE, MENU]})
        session.commit()
    assert state(db, shop, member)[0][0] == Progress("Café", 4, 10)  # kept, not lost


@pytest.mark.parametrize(
    ("card", "field"),
    [
        ({**COFFEE, "sku": "CAF-1"}, "cards.0.sku"),  # both a product and a group
        ({k: v for k, v in COFFEE.items() if k != "product_group"}, "cards.0.sku"),  # neither
        ({**COFFEE, "size": 1}, "cards.0.size"),
        ({**COFFEE, "key": "Café Grande"}, "cards.0.key"),
    ],
)
def test_settings_refuse_a_bad_card(shop, db, platform, card, field):
    with db(shop) as session, pytest.raises(InvalidInput) as refused:
        platform.plugins.save_settings(session, "punchcards", {"cards": [card]})
    assert field in refused.value.fields


def test_settings_refuse_two_cards_with_one_key(shop, db, platform):
    with db(shop) as session, pytest.raises(InvalidInput) as refused:
        platform.plugins.save_settings(session, "punchcards", {"cards": [COFFEE, COFFEE]})
    assert "cards" in refused.value.fields


# --- prizes --------------------------------------------------------------------


def test_staff_hand_a_prize_over_once(shop, make_member, db):
    member = make_member(shop)
    buy(db, shop, member, coffees(10))
    with db(shop) as session:
        store = create_location(session, name="Centro")
        session.commit()
    (prize_id,) = prize_ids(db, shop, member)
    prize = claim(db, shop, prize_id, location_id=store.id)
    assert (prize.status, prize.claimed_by_kind, prize.claimed_by_id, prize.location_id) == (
        "claimed",
        "staff",
        7,
        store.id,
    )
    assert prize.decided_at is not None
    with pytest.raises(PrizeClaimed):
        claim(db, shop, prize_id)
    assert state(db, shop, member)[1] == [("Una tostada", "claimed")]


@pytest.mark.postgres
def test_two_tills_claiming_one_prize(shop, make_member, db, app, sessions):
    member = make_member(shop)
    buy(db, shop, member, coffees(10))
    (prize_id,) = prize_ids(db, shop, member)

    def work(i):
        with sessions(shop.id) as session:
            try:
                cards.claim_prize(session, cards.get_prize(session, prize_id), actor=Actor.staff(i))
                session.commit()
                return "claimed"
            except Conflict:
                return "refused"

    results = run_together(app, 6, work)
    assert unexpected_errors(results) == []
    assert sorted(r[1] for r in results) == ["claimed"] + ["refused"] * 5


# --- returns ---------------------------------------------------------------------


def test_a_return_takes_its_punches_back(shop, make_member, db):
    member = make_member(shop)
    buy(db, shop, member, coffees(2))
    seven = buy(db, shop, member, coffees(7))
    give_back(db, shop, seven)
    assert state(db, shop, member)[0][0] == Progress("Café", 2, 10)
    give_back(db, shop, seven)  # a second return changes nothing
    assert state(db, shop, member)[0][0] == Progress("Café", 2, 10)


def test_returning_twenty_coffees_cancels_both_unclaimed_prizes(shop, make_member, db):
    member = make_member(shop)
    twenty = buy(db, shop, member, coffees(20))
    give_back(db, shop, twenty)
    assert state(db, shop, member) == (
        [Progress("Café", 0, 10), Progress("Menú del día", 0, 10)],
        [("Una tostada", "cancelled"), ("Una tostada", "cancelled")],
    )
    (prize_id, _) = prize_ids(db, shop, member, status="cancelled")
    with pytest.raises(PrizeCancelled):
        claim(db, shop, prize_id)


def test_returning_an_earlier_purchase_cancels_the_prize_it_helped_win(shop, make_member, db):
    member = make_member(shop)
    first = buy(db, shop, member, coffees(5))
    buy(db, shop, member, coffees(5))  # completes the card
    give_back(db, shop, first)
    assert state(db, shop, member) == (
        [Progress("Café", 5, 10), Progress("Menú del día", 0, 10)],
        [("Una tostada", "cancelled")],
    )


def test_a_prize_already_handed_over_is_forgiven_not_owed(shop, make_member, db):
    """12 coffees: a toast (eaten) and 2 towards the next; the 12 are returned."""
    member = make_member(shop)
    twelve = buy(db, shop, member, coffees(12))
    claim(db, shop, prize_ids(db, shop, member)[0])
    give_back(db, shop, twelve)
    assert state(db, shop, member) == (
        [Progress("Café", 0, 10), Progress("Menú del día", 0, 10)],
        [("Una tostada", "claimed")],
    )
    with db(shop) as session:
        punch = session.scalar(select(Punch).where(Punch.purchase_id == twelve))
        assert (punch.punches, punch.prizes, punch.punches_not_recovered) == (12, 1, 10)
        assert punch.returned_at is not None
    buy(db, shop, member, coffees(8))  # the next card starts from zero, no debt
    assert state(db, shop, member)[0][0] == Progress("Café", 8, 10)


def test_a_return_takes_unclaimed_prizes_before_forgiving(shop, make_member, db):
    member = make_member(shop)
    ten = buy(db, shop, member, coffees(10))  # prize 1, handed over
    claim(db, shop, prize_ids(db, shop, member)[0])
    buy(db, shop, member, coffees(13))  # prize 2, waiting; 3 towards the next
    give_back(db, shop, ten)
    # 3 from the current card, 7 from the waiting prize (cancelled: 3 left of its 10).
    assert state(db, shop, member) == (
        [Progress("Café", 3, 10), Progress("Menú del día", 0, 10)],
        [("Una tostada", "claimed"), ("Una tostada", "cancelled")],
    )
    with db(shop) as session:
        punch = session.scalar(select(Punch).where(Punch.purchase_id == ten))
        assert punch.punches_not_recovered == 0


# --- tenants ------------------------------------------------------------------------


def test_each_merchant_sees_only_its_own_cards_and_prizes(
    shop, make_tenant, make_member, db, platform
):
    other = _shop(make_tenant, db, platform)
    mine, theirs = make_member(shop, "ana@mail.example"), make_member(other, "ana@mail.example")
    buy(db, shop, mine, coffees(14))
    assert state(db, shop, mine)[0][0] == Progress("Café", 4, 10)
    assert state(db, other, theirs) == (
        [Progress("Café", 0, 10), Progress("Menú del día", 0, 10)],
        [],
    )
    (prize_id,) = prize_ids(db, shop, mine)
    with db(other) as session:
        with pytest.raises(NotFound):
            cards.get_prize(session, prize_id)
        assert session.scalars(select(Prize)).all() == []
    with db(other) as session, pytest.raises(NotFound):
        # Even given the id, another merchant's till finds no prize to claim.
        cards.claim_prize(session, Prize(id=prize_id, status="issued"), actor=CASHIER)
    assert prize_ids(db, shop, mine) == [prize_id]  # still waiting for Ana


def test_without_the_plugin_nothing_is_punched(make_tenant, make_member, db, platform):
    tenant = make_tenant(plan="free")
    member = make_member(tenant)
    buy(db, tenant, member, coffees(10))
    with db(tenant) as session:
        assert session.scalars(select(Punch)).all() == []


def give_back_lines(db, tenant, purchase_id, *items):
    from core.loyalty.purchases import get_purchase, return_part

    with db(tenant) as session:
        return_part(session, get_purchase(session, purchase_id), actor=CASHIER, items=list(items))
        session.commit()


def test_a_part_returned_by_lines_takes_back_only_those_punches(shop, make_member, db):
    """purchase_partly_returned: 12 coffees and a menu; 3 coffees come back, then the rest."""
    from core.loyalty.purchases import ReturnedItem

    member = make_member(shop)
    menu = Item(quantity=1, unit_price=Decimal("15000"), sku="MENU-DIA")
    twelve = buy(db, shop, member, coffees(12), menu)
    give_back_lines(db, shop, twelve, ReturnedItem(quantity=3, product_group="cafe"))
    # 2 towards the next card, then the unclaimed toast gives its 10 back: 9 of 10.
    assert state(db, shop, member) == (
        [Progress("Café", 9, 10), Progress("Menú del día", 1, 10)],
        [("Una tostada", "cancelled")],
    )
    give_back(db, shop, twelve)  # the rest: the other 9 coffees and the menu
    assert state(db, shop, member)[0] == [Progress("Café", 0, 10), Progress("Menú del día", 0, 10)]
    with db(shop) as session:
        rows = session.scalars(select(Punch).where(Punch.purchase_id == twelve)).all()
        assert all(row.returned_at is not None for row in rows)
        assert sum(row.punches_not_recovered or 0 for row in rows) == 0
