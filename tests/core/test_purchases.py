"""Purchases from the till's side: what they earn, retries, returns, plugins' lines."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.host.actors import Actor
from core.host.db import clock_at
from core.host.errors import IdempotencyMismatch, InvalidInput, NotFound
from core.loyalty import ledger
from core.loyalty.ledger import Entry
from core.loyalty.members import get_member
from core.loyalty.program import PointsByAmountOnly, update_program
from core.loyalty.purchases import (
    Item,
    NoPointsByAmount,
    Purchase,
    Status,
    get_purchase,
    give_points,
    record_purchase,
    return_purchase,
    spend,
    spend_by_member,
)
from core.loyalty.staff import Role, create_staff
from core.testing.factories import PASSWORD
from tests.concurrency import run_together, unexpected_errors
from tests.core import bonus_plugin

pytestmark = pytest.mark.premia_plugins(bonus_plugin)

CASHIER = Actor.staff(7)


@pytest.fixture
def bonus():
    bonus_plugin.calls.clear()
    bonus_plugin.refuse = False
    yield bonus_plugin
    bonus_plugin.calls.clear()
    bonus_plugin.refuse = False
    bonus_plugin.extra = 0


@pytest.fixture
def shop(make_tenant, make_plan, db, platform):
    """1 point per 1,000 COP, with the bonus plugin active and no e-mail."""
    make_plan("bonus-plan", {"bonus"})
    tenant = make_tenant(plan="bonus-plan")
    with db(tenant) as session:
        update_program(session, {"points_per_amount": {"amount": "1000", "points": 1}})
        session.commit()
    return tenant


def books(db, tenant, member_id):
    with db(tenant) as session:
        return ledger.audit_member(session, member_id)


def test_purchase_earns_the_equivalence_as_one_entry(shop, make_member, db, bonus):
    member = make_member(shop)
    with db(shop) as session:
        purchase, entries = record_purchase(
            session,
            get_member(session, member.code),
            "45999",
            actor=CASHIER,
            reference="F-001",
            description="mesa 4",
        )
        session.commit()
    assert [(e.kind, e.points, e.purchase_id) for e in entries] == [("earn", 45, purchase.id)]
    assert (purchase.amount, purchase.points, purchase.status) == (
        Decimal("45999.00"),
        45,
        Status.RECORDED,
    )
    assert entries[0].reference == "F-001" and entries[0].actor_id == 7
    assert books(db, shop, member.id) == (45, 45, 45)
    assert bonus.calls[0] == ("calculate_points", (member.id, 45))


def test_plugin_lines_become_labelled_entries(shop, make_member, db, bonus):
    member = make_member(shop)
    items = [
        Item(quantity=3, unit_price=Decimal("4500"), product_group="coffee", sku="CAF-1"),
        Item(quantity=1, unit_price=Decimal("12000"), product_group="bakery"),
    ]
    with db(shop) as session:
        purchase, entries = record_purchase(
            session, member, Decimal("25500"), actor=CASHIER, items=items
        )
        session.commit()
    # 25 from the equivalence; the bonus gives 1 per 100 COP of coffee: 13,500 → 135
    assert [(e.kind, e.points, e.label) for e in entries] == [
        ("earn", 25, None),
        ("coffee_bonus", 135, "Coffee bonus (13500.00)"),
    ]
    assert purchase.points == 160
    assert [(line.sku, line.product_group, line.quantity) for line in purchase.lines] == [
        ("CAF-1", "coffee", 3),
        (None, "bakery", 1),
    ]
    assert ledger.kind_label("coffee_bonus", entries[1].label) == "Coffee bonus (13500.00)"
    assert bonus.calls[-1] == ("purchase_recorded", (purchase.id, [25, 135]))
    assert books(db, shop, member.id) == (160, 160, 160)


def test_without_an_equivalence_only_plugins_earn(make_tenant, make_plan, make_member, db, bonus):
    make_plan("bonus-only", {"bonus"})
    tenant = make_tenant(plan="bonus-only")
    member = make_member(tenant)
    with db(tenant) as session:
        with pytest.raises(NoPointsByAmount) as refused:
            record_purchase(session, member, "9000", actor=CASHIER)
        assert (refused.value.status, refused.value.reason) == (409, "no_points_by_amount")
        session.rollback()
        coffee, some = record_purchase(
            session,
            member,
            "900",
            actor=CASHIER,
            items=[Item(quantity=2, unit_price=Decimal("450"), product_group="coffee")],
        )
        tea, none = record_purchase(  # its lines may count elsewhere (punch cards)
            session,
            member,
            "300",
            actor=CASHIER,
            items=[Item(quantity=1, unit_price=Decimal("300"), product_group="tea")],
        )
        session.commit()
    assert [(e.kind, e.points) for e in some] == [("coffee_bonus", 9)]
    assert (tea.points, none) == (0, [])
    with db(tenant) as session:
        assert session.scalar(select(func.count()).select_from(Purchase)) == 2
        assert spend(
            session, member.id, coffee.created_at, tea.created_at.replace(year=3000)
        ) == Decimal("1200.00")


def test_a_retry_by_key_or_by_reference_writes_nothing(shop, make_member, db, bonus):
    member = make_member(shop)
    with db(shop) as session:
        first, _ = record_purchase(
            session, member, "10000", actor=CASHIER, idempotency_key="till-1-0001"
        )
        by_ref, _ = record_purchase(session, member, "20000", actor=CASHIER, reference="F-9")
        session.commit()
    with db(shop) as session:
        again, entries = record_purchase(
            session, member, "10000", actor=CASHIER, idempotency_key="till-1-0001"
        )
        again_ref, _ = record_purchase(session, member, "20000", actor=CASHIER, reference="F-9")
        session.commit()
        count = session.scalar(select(func.count()).select_from(Purchase))
    assert (again.id, again_ref.id) == (first.id, by_ref.id)
    assert [e.points for e in entries] == [10]
    assert count == 2
    assert books(db, shop, member.id) == (30, 30, 30)


def test_a_key_or_reference_reused_for_another_purchase_is_refused(shop, make_member, db):
    member = make_member(shop)
    with db(shop) as session:
        record_purchase(session, member, "10000", actor=CASHIER, idempotency_key="k1")
        record_purchase(session, member, "10000", actor=CASHIER, reference="F-1")
        session.commit()
    with db(shop) as session:
        with pytest.raises(IdempotencyMismatch):
            record_purchase(session, member, "11000", actor=CASHIER, idempotency_key="k1")
        with pytest.raises(IdempotencyMismatch):
            record_purchase(session, member, "11000", actor=CASHIER, reference="F-1")


@pytest.mark.parametrize(
    "amount", ["0", "-1", "10.001", "abc", "NaN", "Infinity", 10.5, True, "99999999999"]
)
def test_bad_amounts_are_refused_and_nothing_is_written(shop, make_member, db, amount):
    member = make_member(shop)
    with db(shop) as session:
        with pytest.raises(InvalidInput) as refused:
            record_purchase(session, member, amount, actor=CASHIER)
        assert "amount" in refused.value.fields
        session.rollback()
        assert session.scalar(select(func.count()).select_from(Purchase)) == 0


@pytest.mark.parametrize(("amount", "points"), [("999", 0), ("1000", 1), ("45999", 45)])
def test_an_amount_earns_the_equivalence_rounded_down(shop, make_member, db, amount, points):
    """The one amount-to-points path (the ledger has none): below the equivalence the
    purchase is still recorded, with no entry."""
    member = make_member(shop)
    with db(shop) as session:
        purchase, entries = record_purchase(session, member, amount, actor=CASHIER)
        session.commit()
    assert purchase.points == points
    assert [entry.points for entry in entries] == ([points] if points else [])
    assert books(db, shop, member.id) == (points,) * 3


def test_the_description_field_off_drops_a_note_from_purchases_and_grants(shop, make_member, db):
    member = make_member(shop)
    with db(shop) as session:
        purchase, entries = record_purchase(
            session, member, "2000", actor=CASHIER, description="  F-1  "
        )
        entry = give_points(session, member, 5, actor=Actor.system(), description=" F-2 ")
        assert (purchase.description, entries[0].description, entry.description) == (
            "F-1",
            "F-1",
            "F-2",
        )
        update_program(session, {"description_field": False})
        purchase, entries = record_purchase(
            session, member, "3000", actor=CASHIER, description="F-3"
        )
        entry = give_points(session, member, 5, actor=Actor.system(), description="F-4")
        assert (purchase.description, entries[0].description, entry.description) == (
            None,
            None,
            None,
        )


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.OWNER, (True, True)),
        (Role.ADMIN, (True, True)),
        (Role.EMPLOYEE, (False, True)),
        (None, (True, True)),  # a POS token: its scope, not the employees' rule
    ],
)
def test_plain_points_from_an_employee_follow_the_program(shop, make_member, db, role, allowed):
    member = make_member(shop)
    with db(shop) as session:
        if role is None:
            actor = Actor("token", 1)
        else:
            staff = create_staff(
                session,
                email=f"{role.value}@shop.example",
                name=role.value,
                password=PASSWORD,
                role=role,
            )
            actor = Actor.staff(staff.id)
        session.commit()
    outcomes = []
    for employees_give_points in (False, True):
        with db(shop) as session:
            update_program(session, {"employees_give_points": employees_give_points})
            try:
                give_points(session, get_member(session, member.code), 10, actor=actor)
            except PointsByAmountOnly as refused:
                assert (refused.status, refused.reason) == (422, "points_by_amount_only")
                outcomes.append(False)
            else:
                outcomes.append(True)
            session.commit()
    assert tuple(outcomes) == allowed
    assert books(db, shop, member.id)[0] == 10 * sum(allowed)


def test_without_an_equivalence_an_employee_gives_points(shop, make_member, db):
    member = make_member(shop)
    with db(shop) as session:
        update_program(session, {"points_per_amount": None})
        entry = give_points(session, member, 10, actor=Actor.staff(10**6))  # nobody: employee
    assert entry.points == 10


@pytest.mark.parametrize(
    "item",
    [
        Item(quantity=0, unit_price=Decimal("1"), sku="A"),
        Item(quantity=2.5, unit_price=Decimal("1"), sku="A"),
        Item(quantity=1, unit_price=Decimal("-1"), sku="A"),
        Item(quantity=1, unit_price=Decimal("1.001"), sku="A"),
        Item(quantity=1, unit_price=Decimal("1")),
        Item(quantity=1, unit_price=Decimal("1"), sku="X" * 65),
    ],
)
def test_bad_items_are_refused(shop, make_member, db, item):
    member = make_member(shop)
    with db(shop) as session, pytest.raises(InvalidInput) as refused:
        record_purchase(session, member, "1000", actor=CASHIER, items=[item])
    assert "items" in refused.value.fields


def test_return_takes_the_points_back(shop, make_member, db, bonus):
    member = make_member(shop)
    with db(shop) as session:
        purchase, _ = record_purchase(
            session,
            member,
            "5000",
            actor=CASHIER,
            items=[Item(quantity=1, unit_price=Decimal("5000"), product_group="coffee")],
        )
        session.commit()
    with db(shop) as session:
        returned = return_purchase(session, get_purchase(session, purchase.id), actor=CASHIER)
        session.commit()
    assert (returned.status, returned.points_not_recovered) == (Status.RETURNED, 0)
    assert bonus.calls[-1] == ("purchase_returned", (purchase.id, -55))
    assert books(db, shop, member.id) == (0, 0, 0)
    with db(shop) as session:
        kinds = [e.kind for e in ledger.history(session, get_member(session, member.code))]
        assert kinds == ["return", "coffee_bonus", "earn"]
        assert (
            spend(session, member.id, purchase.created_at, purchase.created_at.replace(year=3000))
            == 0
        )


def test_return_after_spending_takes_what_is_left_and_records_the_rest(
    shop, make_member, db, bonus
):
    member = make_member(shop)
    with db(shop) as session:
        purchase, _ = record_purchase(session, member, "50000", actor=CASHIER)
        ledger.redeem(session, member, 30, actor=CASHIER)
        session.commit()
    with db(shop) as session:
        returned = return_purchase(session, get_purchase(session, purchase.id), actor=CASHIER)
        session.commit()
        again = return_purchase(session, get_purchase(session, purchase.id), actor=CASHIER)
        session.commit()
    assert returned.points_not_recovered == 30
    assert again.returned_at == returned.returned_at
    assert books(db, shop, member.id) == (0, 0, 0)
    with db(shop) as session:
        returns = session.scalars(select(Entry.points).where(Entry.kind == "return")).all()
    assert returns == [-20]
    assert [c for c in bonus.calls if c[0] == "purchase_returned"] == [
        ("purchase_returned", (purchase.id, -20))
    ]


def test_return_of_a_fully_spent_purchase_writes_no_entry(shop, make_member, db, bonus):
    member = make_member(shop)
    with db(shop) as session:
        purchase, _ = record_purchase(session, member, "10000", actor=CASHIER)
        ledger.redeem(session, member, 10, actor=CASHIER)
        session.commit()
    with db(shop) as session:
        returned = return_purchase(session, get_purchase(session, purchase.id), actor=CASHIER)
        session.commit()
    assert (returned.status, returned.points_not_recovered) == (Status.RETURNED, 10)
    assert bonus.calls[-1] == ("purchase_returned", (purchase.id, None))


def test_a_plugin_that_refuses_undoes_the_whole_purchase(shop, make_member, db, bonus):
    member = make_member(shop)
    bonus.refuse = True
    with db(shop) as session:
        with pytest.raises(RuntimeError, match="refused by the bonus plugin"):
            record_purchase(session, member, "10000", actor=CASHIER)
        session.rollback()
    with db(shop) as session:
        assert session.scalar(select(func.count()).select_from(Purchase)) == 0
    assert books(db, shop, member.id) == (0, 0, 0)


def test_another_merchants_purchase_is_not_found(shop, make_tenant, make_member, db):
    member = make_member(shop)
    with db(shop) as session:
        purchase, _ = record_purchase(session, member, "10000", actor=CASHIER)
        session.commit()
    other = make_tenant()
    with db(other) as session, pytest.raises(NotFound):
        get_purchase(session, purchase.id)


@pytest.mark.postgres
def test_concurrent_retries_record_one_purchase(app, shop, make_member, sessions, bonus):
    member = make_member(shop)

    def work(_i):
        with sessions(shop.id) as session:
            purchase, _entries = record_purchase(
                session,
                get_member(session, member.code),
                "12000",
                actor=CASHIER,
                idempotency_key="pos-retry",
            )
            session.commit()
            return purchase.id

    results = run_together(app, 12, work)
    assert unexpected_errors(results) == []
    assert len({r[1] for r in results}) == 1
    with sessions(shop.id) as session:
        assert session.scalar(select(func.count()).select_from(Purchase)) == 1
        assert ledger.audit_member(session, member.id) == (12, 12, 12)


@pytest.mark.postgres
def test_concurrent_returns_take_the_points_once(app, shop, make_member, sessions, db):
    member = make_member(shop)
    with db(shop) as session:
        purchase, _ = record_purchase(session, member, "40000", actor=CASHIER)
        record_purchase(session, member, "60000", actor=CASHIER)
        session.commit()

    def work(_i):
        with sessions(shop.id) as session:
            return_purchase(session, get_purchase(session, purchase.id), actor=CASHIER)
            session.commit()
            return "returned"

    results = run_together(app, 8, work)
    assert unexpected_errors(results) == []
    with sessions(shop.id) as session:
        assert session.scalar(select(func.count()).where(Entry.kind == "return")) == 1
        assert ledger.audit_member(session, member.id) == (60, 60, 60)


def test_spend_by_member_sums_each_window_for_every_member_of_one_tenant(
    shop, make_tenant, make_member, db, bonus
):
    """The set-based spend rules over all members read (tiers' period end): recorded
    purchases only, each window [start, end), no other tenant's purchases."""
    ana, bea, idle = make_member(shop), make_member(shop), make_member(shop)
    other = make_tenant()
    stranger = make_member(other)
    day = [datetime(2026, 3, d, 12, tzinfo=UTC) for d in range(1, 6)]
    with db(shop) as session:
        for moment, member, amount in [
            (day[0], ana, "1000.10"),
            (day[1], ana, "2000"),
            (day[3], ana, "500"),
            (day[3], bea, "700"),
        ]:
            with clock_at(moment):
                record_purchase(session, member, amount, actor=CASHIER)
        with clock_at(day[3]):
            returned, _ = record_purchase(session, bea, "9000", actor=CASHIER)
            return_purchase(session, returned, actor=CASHIER)
        session.commit()
    with db(other) as session, clock_at(day[1]):
        update_program(session, {"points_per_amount": {"amount": "1000", "points": 1}})
        record_purchase(session, stranger, "5000", actor=CASHIER)
        session.commit()
    with db(shop) as session:
        totals = spend_by_member(shop.id, {"early": (day[0], day[2]), "late": (day[2], None)})
        rows = session.connection().execute(select(totals).order_by(totals.c.member_id)).all()
    # str(): SQLite answers the rounded sums as floats
    assert [(r.member_id, Decimal(str(r.early)), Decimal(str(r.late))) for r in rows] == [
        (ana.id, Decimal("3000.10"), Decimal("500.00")),
        (bea.id, Decimal("0.00"), Decimal("700.00")),
    ]
    assert idle.id not in {r.member_id for r in rows}


def test_a_purchase_of_several_lines_leaves_the_books_and_the_session_as_a_flush_would(
    shop, make_member, db, bonus
):
    """On PostgreSQL the purchase, its entries, the balance and the lots are written in
    one statement; on SQLite by the unit of work: the same books, the same objects."""
    member = make_member(shop)
    bonus.extra = 5
    with db(shop) as session:
        found = get_member(session, member.code)
        purchase, entries = record_purchase(session, found, "12000", actor=CASHIER)
        assert [(e.kind, e.points, e.balance_after) for e in entries] == [
            ("earn", 12, 12),
            ("extra_bonus", 5, 17),
        ]
        assert found.balance == 17 and purchase.points == 17
        assert session.get(Purchase, purchase.id) is purchase
        assert all(session.get(Entry, e.id) is e for e in entries)
        assert not session.new and not session.dirty  # nothing left to write
        assert bonus.calls[-1] == ("purchase_recorded", (purchase.id, [12, 5]))
        session.commit()
    with db(shop) as session:
        stored = session.scalars(select(Entry).where(Entry.purchase_id == purchase.id)).all()
        assert [(e.id, e.points, e.balance_after, e.label) for e in stored] == [
            (e.id, e.points, e.balance_after, e.label) for e in entries
        ]
        lots = session.scalars(select(ledger.Lot).order_by(ledger.Lot.entry_id)).all()
        assert [(lot.entry_id, lot.remaining) for lot in lots] == [
            (e.id, e.points) for e in entries
        ]
    assert books(db, shop, member.id) == (17, 17, 17)


def test_a_purchase_of_one_line_on_a_balance_leaves_the_books_as_a_flush_would(
    shop, make_member, db, bonus
):
    """The usual earn, one entry (PostgreSQL writes it with a statement of its own,
    without the lines' arrays): its balance_after counts the balance before it, and its
    lot expires as the program says."""
    member = make_member(shop)
    with db(shop) as session:
        update_program(session, {"expiry_months": 6})
        record_purchase(session, get_member(session, member.code), "3000", actor=CASHIER)
        session.commit()
    with db(shop) as session, clock_at(datetime(2026, 3, 1, 12, tzinfo=UTC)):
        found = get_member(session, member.code)
        purchase, (entry,) = record_purchase(session, found, "12000", actor=CASHIER)
        assert (entry.kind, entry.points, entry.balance_after, entry.label) == (
            "earn",
            12,
            15,
            None,
        )
        assert found.balance == 15 and purchase.points == 12
        assert session.get(Entry, entry.id) is entry and entry.purchase_id == purchase.id
        assert not session.new and not session.dirty
        session.commit()
    with db(shop) as session:
        stored = session.get(Entry, entry.id)
        assert (stored.points, stored.balance_after, stored.purchase_id) == (12, 15, purchase.id)
        lot = session.scalar(select(ledger.Lot).where(ledger.Lot.entry_id == entry.id))
        assert (lot.points, lot.remaining) == (12, 12)
        assert lot.expires_at == datetime(2026, 9, 1, 12, tzinfo=UTC)
    assert books(db, shop, member.id) == (15, 15, 15)


def test_a_row_written_along_names_the_purchase_the_statement_wrote(
    shop, make_member, db, bonus, platform
):
    from core.host.db import utcnow
    from core.loyalty.purchases import WriteAlong
    from plugins.api.models import IdempotentResponse  # a table naming a purchase

    bonus.extra = 5  # two lines: two entries
    member = make_member(shop)

    def along(key):
        return WriteAlong(
            table=IdempotentResponse.__table__,
            values={"key": key, "fingerprint": "f" * 64, "status": 201, "created_at": utcnow()},
            purchase_column="purchase_id",
        )

    first, twin = along("k"), along("k")
    with db(shop) as session:
        purchase, entries = record_purchase(
            session, member, "45000", actor=CASHIER, idempotency_key="p-1", along=first
        )
        session.commit()
        # Another purchase whose row meets the first's key: the purchase is written,
        # the row is not (the caller then writes its own).
        record_purchase(session, member, "45000", actor=CASHIER, idempotency_key="p-2", along=twin)
        session.commit()
    with db(shop) as session:
        rows = session.execute(
            select(IdempotentResponse.purchase_id, IdempotentResponse.body)
        ).all()
    if platform.engine.dialect.name != "postgresql":  # the multi-statement form writes none
        assert (first.written, rows) == (False, [])
        return
    assert first.written and not twin.written and len(entries) == 2
    assert rows == [(purchase.id, None)]


def test_a_row_written_along_by_its_json_names_the_ids_the_statement_wrote(
    shop, make_member, db, bonus, platform
):
    from core.host.db import utcnow
    from core.loyalty.purchases import WriteAlong
    from plugins.api.models import IdempotentResponse  # a table with a JSON column

    bonus.extra = 5  # two lines: two entries
    member = make_member(shop)
    along = WriteAlong(
        table=IdempotentResponse.__table__,
        values={"key": "k", "fingerprint": "f" * 64, "status": 201, "created_at": utcnow()},
        json_column="body",
        render=lambda purchase, entries: {
            "purchase": purchase.id,
            "entries": [[e.id, e.points, e.balance_after] for e in entries],
            "note": "-100000000000000001",
        },
    )
    with db(shop) as session:
        purchase, entries = record_purchase(
            session, member, "45000", actor=CASHIER, idempotency_key="p-1", along=along
        )
        session.commit()
    with db(shop) as session:
        body = session.scalar(select(IdempotentResponse.body))
    if platform.engine.dialect.name != "postgresql":  # the multi-statement form writes none
        assert (along.written, body) == (False, None)
        return
    assert along.written and len(entries) == 2
    assert body == {
        "purchase": purchase.id,
        "entries": [[e.id, e.points, e.balance_after] for e in entries],
        "note": "-100000000000000001",
    }


def test_a_row_written_along_fills_in_one_column_or_the_other():
    from core.loyalty.purchases import WriteAlong
    from plugins.api.models import IdempotentResponse

    table = IdempotentResponse.__table__
    with pytest.raises(TypeError):
        WriteAlong(table=table, values={})
    with pytest.raises(TypeError):
        WriteAlong(table=table, values={}, json_column="body")  # nothing renders it
    with pytest.raises(TypeError):
        WriteAlong(
            table=table,
            values={},
            json_column="body",
            render=lambda _p, _e: {},
            purchase_column="purchase_id",
        )
