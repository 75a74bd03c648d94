"""Purchases returned in parts (lines or an amount), and quotes that write nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.host.actors import Actor
from core.host.errors import IdempotencyMismatch, InvalidInput, NotFound
from core.loyalty import ledger
from core.loyalty.ledger import Entry
from core.loyalty.members import Membership
from core.loyalty.program import update_program
from core.loyalty.purchases import (
    Item,
    NothingToReturn,
    Purchase,
    PurchaseReturn,
    ReturnedItem,
    Status,
    get_purchase,
    purchase_by_reference,
    quote_purchase,
    record_purchase,
    return_part,
    return_purchase,
    spend,
)
from tests.concurrency import run_together, unexpected_errors
from tests.core import bonus_plugin

pytestmark = pytest.mark.premia_plugins(bonus_plugin)

CASHIER = Actor.staff(7)
# 2 coffees at 5,000 and a sandwich at 10,000: 20 points by the equivalence, 100 of bonus.
LINES = [
    Item(quantity=2, unit_price=Decimal("5000"), sku="CAF", product_group="coffee"),
    Item(quantity=1, unit_price=Decimal("10000"), sku="SAN", product_group="food"),
]


@pytest.fixture
def bonus():
    bonus_plugin.calls.clear()
    yield bonus_plugin
    bonus_plugin.calls.clear()


@pytest.fixture
def shop(make_tenant, make_plan, db):
    make_plan("bonus-plan", {"bonus"})
    tenant = make_tenant(plan="bonus-plan")
    with db(tenant) as session:
        update_program(session, {"points_per_amount": {"amount": "1000", "points": 1}})
        session.commit()
    return tenant


@pytest.fixture
def sale(shop, make_member, db):
    """A member's purchase of 20,000 that earned 120 points; (member, purchase id)."""
    member = make_member(shop)
    with db(shop) as session:
        purchase, entries = record_purchase(
            session, member, "20000", actor=CASHIER, items=LINES, reference="F-9"
        )
        session.commit()
        assert sum(e.points for e in entries) == 120
    return member, purchase.id


def give_back(db, shop, purchase_id, **part):
    with db(shop) as session:
        purchase, returned = return_part(
            session, get_purchase(session, purchase_id), actor=CASHIER, **part
        )
        session.commit()
        return (
            purchase.status,
            purchase.returned_amount,
            returned and (returned.amount, returned.points, returned.points_not_recovered),
        )


def balance(db, shop, member):
    with db(shop) as session:
        return session.get(Membership, member.id).balance


def test_an_amount_returned_takes_its_share_of_the_points_then_the_rest_all(shop, sale, db, bonus):
    member, purchase_id = sale
    assert give_back(db, shop, purchase_id, amount="5000") == (
        Status.RECORDED,
        Decimal("5000"),
        (Decimal("5000"), 30, 0),  # a quarter of 120
    )
    assert bonus.calls[-1] == ("purchase_partly_returned", (purchase_id, Decimal("5000"), [], -30))
    with db(shop) as session:
        purchase = session.get(Purchase, purchase_id)
        assert (
            spend(session, member.id, purchase.created_at, purchase.created_at.replace(year=3000))
            == 15000
        )
    assert give_back(db, shop, purchase_id, amount="3333") == (
        Status.RECORDED,
        Decimal("8333"),
        (Decimal("3333"), 19, 0),  # floor(120 × 8,333 / 20,000) = 49, 30 taken already
    )
    status, returned, (_amount, points, _lost) = give_back(db, shop, purchase_id)
    assert (status, returned, points) == (Status.RETURNED, Decimal("20000"), 71)
    assert bonus.calls[-1] == ("purchase_returned", (purchase_id, -71))
    assert balance(db, shop, member) == 0
    with db(shop) as session:
        assert ledger.audit_member(session, member.id) == (0, 0, 0)
    # Whole again: nothing more; a part of a returned purchase: refused.
    assert give_back(db, shop, purchase_id)[2] is None
    with pytest.raises(NothingToReturn):
        give_back(db, shop, purchase_id, amount="1")


def test_lines_returned_are_named_by_code_or_group_and_never_twice(shop, sale, db, bonus):
    _member, purchase_id = sale
    one_coffee = [ReturnedItem(quantity=1, sku="CAF")]
    assert give_back(db, shop, purchase_id, items=one_coffee)[2] == (Decimal("5000"), 30, 0)
    with db(shop) as session:
        lines = get_purchase(session, purchase_id).lines
        assert [line.returned_quantity for line in lines] == [1, 0]
        coffee_id = lines[0].id
    assert bonus.calls[-1][1][2] == [{"line_id": coffee_id, "quantity": 1}]
    with pytest.raises(NothingToReturn):
        give_back(db, shop, purchase_id, items=[ReturnedItem(quantity=2, product_group="coffee")])
    with pytest.raises(NothingToReturn):
        give_back(db, shop, purchase_id, amount="15000.01")
    with pytest.raises(InvalidInput):
        give_back(db, shop, purchase_id, items=one_coffee, amount="1")
    with pytest.raises(InvalidInput):
        give_back(db, shop, purchase_id, items=[ReturnedItem(quantity=1)])
    with db(shop) as session:  # the refusals wrote nothing
        assert [line.returned_quantity for line in get_purchase(session, purchase_id).lines] == [
            1,
            0,
        ]
        assert session.scalar(select(func.count()).select_from(PurchaseReturn)) == 1


def test_a_retried_part_is_returned_once(shop, sale, db):
    member, purchase_id = sale
    first = give_back(db, shop, purchase_id, amount="5000", idempotency_key="r-1")
    assert give_back(db, shop, purchase_id, amount="5000", idempotency_key="r-1") == first
    assert balance(db, shop, member) == 90
    with pytest.raises(IdempotencyMismatch):
        give_back(db, shop, purchase_id, amount="6000", idempotency_key="r-1")


def test_points_already_spent_are_recorded_not_owed(shop, sale, db):
    member, purchase_id = sale
    with db(shop) as session:
        ledger.redeem(session, session.get(Membership, member.id), 100, actor=CASHIER)
        session.commit()
    assert give_back(db, shop, purchase_id, amount="10000")[2] == (Decimal("10000"), 20, 40)
    with db(shop) as session:
        purchase = return_purchase(session, get_purchase(session, purchase_id), actor=CASHIER)
        session.commit()
        assert (purchase.status, purchase.points_not_recovered) == (Status.RETURNED, 100)
    assert balance(db, shop, member) == 0


def test_a_quote_earns_what_the_sale_would_and_writes_nothing(shop, make_member, db, bonus):
    member = make_member(shop)
    with db(shop) as session:
        entries = session.scalar(select(func.count()).select_from(Entry))
        lines = quote_purchase(session, session.get(Membership, member.id), "20000", items=LINES)
        nobody = quote_purchase(session, None, "20000", items=LINES)
        session.commit()
    with db(shop) as session:
        assert session.scalar(select(func.count()).select_from(Entry)) == entries
        assert session.scalar(select(func.count()).select_from(Purchase)) == 0
    assert [(line.kind, line.points) for line in lines] == [("earn", 20), ("coffee_bonus", 100)]
    assert nobody == lines


def test_a_reference_names_one_purchase_of_the_tenant(shop, sale, make_tenant, db):
    other = make_tenant()
    with db(other) as session, pytest.raises(NotFound):
        purchase_by_reference(session, "F-9")
    with db(shop) as session:
        assert purchase_by_reference(session, "F-9").id == sale[1]


@pytest.mark.postgres
def test_concurrent_parts_never_return_more_than_was_bought(app, shop, sale, sessions):
    """Six tills return 5,000 each of a 20,000 purchase at once: four succeed, two are
    refused, and 120 points come back, once."""
    member, purchase_id = sale

    def work(_i):
        with sessions(shop.id) as session:
            return_part(session, get_purchase(session, purchase_id), actor=CASHIER, amount="5000")
            session.commit()
            return "returned"

    results = run_together(app, 6, work)
    assert unexpected_errors(results, NothingToReturn) == []
    assert [r[0] for r in results].count("ok") == 4
    with sessions(shop.id) as session:
        assert session.get(Purchase, purchase_id).status == Status.RETURNED
        assert ledger.audit_member(session, member.id) == (0, 0, 0)
        taken = session.scalars(select(PurchaseReturn.points)).all()
        assert sum(taken) == 120
