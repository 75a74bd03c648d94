"""Prepaid packs from the merchant's side: sell, use to zero, expiry, retries, races."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.host.actors import Actor
from core.host.db import clock_at
from core.host.errors import IdempotencyMismatch, InvalidInput, NotFound
from core.loyalty.locations import create_location
from core.loyalty.members import Membership
from plugins.packs import packs
from plugins.packs.models import Pack, PackUse
from plugins.packs.packs import PackExpired, PackUsedUp
from tests.concurrency import run_together, unexpected_errors

SELLER = Actor.staff(3)
MASSAGE = {
    "key": "masaje-5",
    "name": "Bono de 5 sesiones de masaje",
    "uses": 5,
    "price": "150000",
    "validity_days": 90,
}
DRINKS = {"key": "copas-3", "name": "Bono de 3 copas", "uses": 3, "price": "45000"}
# 15:00 on 1 June 2026 in Bogotá (UTC-5)
SOLD_AT = datetime(2026, 6, 1, 20, 0, tzinfo=UTC)
# 90 days: usable through 30 August; expires at 00:00 on 31 August in Bogotá.
EXPIRES_AT = datetime(2026, 8, 31, 5, 0, tzinfo=UTC)


def _shop(make_tenant, db, platform):
    tenant = make_tenant(plan="packs", timezone="America/Bogota")
    with db(tenant) as session:
        platform.plugins.save_settings(session, "packs", {"types": [MASSAGE, DRINKS]})
        session.commit()
    return tenant


@pytest.fixture
def shop(make_plan, make_tenant, db, platform):
    make_plan("packs", {"packs"})
    return _shop(make_tenant, db, platform)


def sell(db, tenant, member, type_key=MASSAGE["key"], *, at=SOLD_AT, **kwargs):
    with clock_at(at), db(tenant) as session:
        pack = packs.sell_pack(
            session, session.get(Membership, member.id), type_key, actor=SELLER, **kwargs
        )
        session.commit()
        return pack


def use(db, tenant, pack_id, *, at=SOLD_AT + timedelta(days=1), actor=SELLER, **kwargs):
    with clock_at(at), db(tenant) as session:
        made = packs.use_pack(session, packs.get_pack(session, pack_id), actor=actor, **kwargs)
        session.commit()
        return made


def uses_left(db, tenant, pack_id):
    with db(tenant) as session:
        return packs.get_pack(session, pack_id).uses_left


def history(db, tenant, pack_id):
    with db(tenant) as session:
        return [
            (u.actor_id, u.location_id, u.uses_left)
            for u in packs.uses_of(session, packs.get_pack(session, pack_id))
        ]


def test_selling_a_pack(shop, make_member, db):
    member = make_member(shop)
    pack = sell(db, shop, member)
    assert (pack.member_id, pack.type_key, pack.name, pack.uses, pack.uses_left, pack.price) == (
        member.id,
        "masaje-5",
        "Bono de 5 sesiones de masaje",
        5,
        5,
        Decimal("150000.00"),
    )
    assert (pack.sold_by_kind, pack.sold_by_id, pack.sold_at) == ("staff", 3, SOLD_AT)
    assert pack.expires_at == EXPIRES_AT
    drinks = sell(db, shop, member, "copas-3")
    assert drinks.expires_at is None  # no validity: never expires
    with db(shop) as session:
        mine = packs.packs_of(session, session.get(Membership, member.id))
        assert [(p.name, p.uses_left, p.uses) for p in mine] == [
            ("Bono de 3 copas", 3, 3),
            ("Bono de 5 sesiones de masaje", 5, 5),
        ]


def test_used_until_zero_then_refused(shop, make_member, db):
    member = make_member(shop)
    pack = sell(db, shop, member)
    with db(shop) as session:
        centro, norte = (create_location(session, name=n) for n in ("Centro", "Norte"))
        session.commit()
    for i, where in enumerate((centro, norte, centro, centro, norte)):
        made = use(db, shop, pack.id, actor=Actor.staff(10 + i), location_id=where.id)
        assert made.uses_left == 4 - i
    with pytest.raises(PackUsedUp):
        use(db, shop, pack.id)
    assert uses_left(db, shop, pack.id) == 0
    assert history(db, shop, pack.id) == [
        (10, centro.id, 4),
        (11, norte.id, 3),
        (12, centro.id, 2),
        (13, centro.id, 1),
        (14, norte.id, 0),
    ]
    with db(shop) as session:
        member_row = session.get(Membership, member.id)
        assert packs.packs_of(session, member_row, usable=True) == []
        assert len(packs.packs_of(session, member_row)) == 1  # still in the history


def test_an_expired_pack_is_refused(shop, make_member, db):
    member = make_member(shop)
    pack = sell(db, shop, member)
    last_second = EXPIRES_AT - timedelta(seconds=1)  # 23:59:59 on 30 August in Bogotá
    assert use(db, shop, pack.id, at=last_second).uses_left == 4
    with pytest.raises(PackExpired):
        use(db, shop, pack.id, at=EXPIRES_AT)
    assert uses_left(db, shop, pack.id) == 4
    assert len(history(db, shop, pack.id)) == 1
    with clock_at(EXPIRES_AT), db(shop) as session:
        assert packs.packs_of(session, session.get(Membership, member.id), usable=True) == []


def test_a_pack_without_validity_is_used_years_later(shop, make_member, db):
    member = make_member(shop)
    pack = sell(db, shop, member, "copas-3")
    assert use(db, shop, pack.id, at=SOLD_AT + timedelta(days=3 * 365)).uses_left == 2


def test_a_retried_use_is_recorded_once(shop, make_member, db):
    member = make_member(shop)
    pack = sell(db, shop, member)
    first = use(db, shop, pack.id, idempotency_key="till-2:use:881")
    again = use(db, shop, pack.id, idempotency_key="till-2:use:881")
    assert (again.id, again.uses_left) == (first.id, 4)
    assert uses_left(db, shop, pack.id) == 4
    other = sell(db, shop, member, "copas-3")
    with pytest.raises(IdempotencyMismatch):
        use(db, shop, other.id, idempotency_key="till-2:use:881")
    assert uses_left(db, shop, other.id) == 3


def test_a_retried_sale_sells_once(shop, make_member, db):
    member, someone_else = make_member(shop), make_member(shop)
    first = sell(db, shop, member, idempotency_key="till-2:sale:17")
    again = sell(db, shop, member, idempotency_key="till-2:sale:17")
    assert again.id == first.id
    with pytest.raises(IdempotencyMismatch):
        sell(db, shop, someone_else, idempotency_key="till-2:sale:17")
    with db(shop) as session:
        assert session.scalar(select(func.count()).select_from(Pack)) == 1


def test_only_types_on_sale_can_be_sold(shop, make_member, db, platform):
    member = make_member(shop)
    with pytest.raises(InvalidInput):
        sell(db, shop, member, "bono-inventado")
    sold = sell(db, shop, member, "copas-3")
    with db(shop) as session:
        platform.plugins.save_settings(
            session, "packs", {"types": [MASSAGE, {**DRINKS, "active": False}]}
        )
        session.commit()
    with pytest.raises(InvalidInput):
        sell(db, shop, member, "copas-3")
    assert use(db, shop, sold.id).uses_left == 2  # a pack already sold is still good


@pytest.mark.parametrize(
    ("types", "field"),
    [
        ([{**MASSAGE, "uses": 0}], "types.0.uses"),
        ([{**MASSAGE, "price": "-1"}], "types.0.price"),
        ([{**MASSAGE, "validity_days": 0}], "types.0.validity_days"),
        ([MASSAGE, MASSAGE], "types"),
    ],
)
def test_settings_refuse_a_bad_type(shop, db, platform, types, field):
    with db(shop) as session, pytest.raises(InvalidInput) as refused:
        platform.plugins.save_settings(session, "packs", {"types": types})
    assert field in refused.value.fields


def test_another_merchant_cannot_see_or_use_a_pack(shop, make_tenant, make_member, db, platform):
    other = _shop(make_tenant, db, platform)
    pack = sell(db, shop, make_member(shop))
    with db(other) as session:
        with pytest.raises(NotFound):
            packs.get_pack(session, pack.id)
        with pytest.raises(NotFound):  # even with the object in hand
            packs.use_pack(session, Pack(id=pack.id, member_id=pack.member_id), actor=SELLER)
    assert uses_left(db, shop, pack.id) == 5


@pytest.mark.postgres
def test_concurrent_uses_of_the_last_session(shop, make_member, db, app, sessions):
    member = make_member(shop)
    pack = sell(db, shop, member, "copas-3")
    use(db, shop, pack.id)
    use(db, shop, pack.id)

    def work(i):
        with sessions(shop.id) as session:
            try:
                packs.use_pack(session, packs.get_pack(session, pack.id), actor=Actor.staff(i))
                session.commit()
                return "used"
            except PackUsedUp:
                return "refused"

    results = run_together(app, 8, work)
    assert unexpected_errors(results) == []
    assert sorted(r[1] for r in results) == ["refused"] * 7 + ["used"]
    assert uses_left(db, shop, pack.id) == 0
    assert [left for _a, _l, left in history(db, shop, pack.id)] == [2, 1, 0]


@pytest.mark.postgres
def test_concurrent_retries_of_one_use(shop, make_member, db, app, sessions):
    pack = sell(db, shop, make_member(shop), "copas-3")  # no expiry: used at today's date

    def work(_i):
        with sessions(shop.id) as session:
            made = packs.use_pack(
                session,
                packs.get_pack(session, pack.id),
                actor=SELLER,
                idempotency_key="till-1:use:5",
            )
            session.commit()
            return made.id

    results = run_together(app, 6, work)
    assert unexpected_errors(results) == []
    assert len({r[1] for r in results}) == 1
    assert uses_left(db, shop, pack.id) == 2
    with db(shop) as session:
        assert session.scalar(select(func.count()).select_from(PackUse)) == 1
