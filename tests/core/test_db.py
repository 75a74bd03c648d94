"""Tenant isolation at the ORM level: what a session of one tenant can see and write.

Two merchants with the same kinds of rows (members, entries, lots, rewards,
redemptions, staff); every check compares what a tenant session sees against
the truth read through a platform session.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import (
    UniqueConstraint,
    delete,
    exists,
    func,
    insert,
    select,
    text,
    union,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, lazyload, selectinload

import plugins.notifications.models  # noqa: F401  (its table belongs to the metadata)
from core.host.actors import Actor
from core.host.db import (
    ALL_TENANTS,
    Base,
    TenancyError,
    driver_connection,
    is_tenant_owned,
    make_engine,
    platform_session,
    scope,
    tenant_session,
)
from core.loyalty import ledger
from core.loyalty.ledger import Entry, Lot
from core.loyalty.locations import Location
from core.loyalty.members import Customer, Membership
from core.loyalty.rewards import Redemption, Reward, Status, create_reward, redeem_reward
from core.loyalty.staff import StaffUser
from tenants.models import Plan, Tenant, TenantSetting

STAFF = Actor.staff(1)
ISOLATED = [Membership, Entry, Lot, Reward, Redemption, StaffUser]


@dataclass
class Shop:
    tenant: Tenant
    member_ids: list[int]
    reward_id: int


def _stock(make_tenant, make_member, db, points: list[int]) -> Shop:
    """A tenant with one member per value in `points`, each earning that many, and
    one reward redeemed once by the first member."""
    tenant = make_tenant()
    members = [make_member(tenant) for _ in points]
    with db(tenant) as session:
        reward = create_reward(session, name=f"Café {tenant.slug}", points=5, stock=10)
        for member, value in zip(members, points, strict=True):
            ledger.earn(session, session.get(Membership, member.id), points=value, actor=STAFF)
        redeem_reward(session, session.get(Membership, members[0].id), reward, actor=STAFF)
        session.commit()
        return Shop(tenant, [m.id for m in members], reward.id)


@pytest.fixture
def shops(make_tenant, make_member, db) -> tuple[Shop, Shop]:
    return (
        _stock(make_tenant, make_member, db, [10, 20]),
        _stock(make_tenant, make_member, db, [30, 40, 50]),
    )


def _truth(platform, model) -> dict[int, set[int]]:
    """Ids of `model` per tenant, read across tenants."""
    with platform_session(platform.sessions) as session:
        rows = session.execute(select(model.tenant_id, model.id)).all()
    found: dict[int, set[int]] = {}
    for tenant_id, row_id in rows:
        found.setdefault(tenant_id, set()).add(row_id)
    return found


# --- reading ---------------------------------------------------------------


@pytest.mark.parametrize("model", ISOLATED, ids=lambda m: m.__name__)
def test_select_sees_only_own_rows(shops, platform, db, model):
    truth = _truth(platform, model)
    a, b = shops
    assert truth.get(a.tenant.id) and truth.get(b.tenant.id)  # both have rows to hide
    for shop in shops:
        with db(shop.tenant) as session:
            rows = session.scalars(select(model)).all()
            counted = session.scalar(select(func.count(model.id)))
        assert {r.id for r in rows} == truth[shop.tenant.id]
        assert {r.tenant_id for r in rows} == {shop.tenant.id}
        assert counted == len(truth[shop.tenant.id])


@pytest.mark.parametrize("model", ISOLATED, ids=lambda m: m.__name__)
def test_a_statement_built_once_is_scoped_to_each_sessions_tenant(shops, platform, db, model):
    """Hot paths keep their statements; each execution is still scoped to the session's
    tenant (the scoped copy is kept per tenant, never shared)."""
    truth = _truth(platform, model)
    statement = select(model)  # one object, run in turn in both tenants' sessions
    for _round in range(2):
        for shop in shops:
            with db(shop.tenant) as session:
                assert {r.id for r in session.scalars(statement)} == truth[shop.tenant.id]


@pytest.mark.parametrize("model", ISOLATED, ids=lambda m: m.__name__)
def test_get_by_id_finds_own_rows_only(shops, platform, db, model):
    truth = _truth(platform, model)
    a, b = shops
    with db(a.tenant) as session:
        for row_id in truth[a.tenant.id]:
            assert session.get(model, row_id) is not None
        for row_id in truth[b.tenant.id]:
            assert session.get(model, row_id) is None
        # nor with a where clause on the primary key
        assert session.scalars(select(model).where(model.id.in_(truth[b.tenant.id]))).all() == []


def test_where_on_tenant_id_cannot_widen_the_scope(shops, db):
    a, b = shops
    with db(a.tenant) as session:
        assert (
            session.scalars(select(Membership).where(Membership.tenant_id == b.tenant.id)).all()
            == []
        )
        assert (
            session.scalars(
                select(Membership).where(Membership.tenant_id.in_([a.tenant.id, b.tenant.id]))
            ).all()
            != []
        )


def _crossed_rows(a, b, entry_id):
    """Rows of shop A pointing at shop B's rows, as a bug or a hand-edited row might."""
    return {
        "redemption.member": Redemption(
            tenant_id=a.tenant.id,
            member_id=b.member_ids[0],
            reward_id=a.reward_id,
            points=5,
            status=Status.CONFIRMED,
            entry_id=entry_id,
            requested_by_kind="system",
        ),
        "redemption.reward": Redemption(
            tenant_id=a.tenant.id,
            member_id=a.member_ids[0],
            reward_id=b.reward_id,
            points=5,
            status=Status.CONFIRMED,
            entry_id=entry_id,
            requested_by_kind="system",
        ),
        "entry.member": Entry(
            tenant_id=a.tenant.id,
            member_id=b.member_ids[0],
            kind="earn",
            points=1,
            balance_after=1,
            actor_kind="system",
        ),
    }


@pytest.mark.parametrize("kind", ["redemption.member", "redemption.reward", "entry.member"])
def test_database_refuses_a_reference_to_another_tenants_row(shops, platform, kind):
    a, b = shops
    with platform_session(platform.sessions) as session:
        entry_id = session.scalar(
            select(Entry.id).where(Entry.tenant_id == a.tenant.id).order_by(Entry.id).limit(1)
        )
        session.add(_crossed_rows(a, b, entry_id)[kind])
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()
    # control: the same row pointing at A's own rows is accepted
    with platform_session(platform.sessions) as session:
        session.add(_crossed_rows(a, a, entry_id)[kind])
        session.flush()
        session.rollback()


@pytest.mark.parametrize(
    "loader", [joinedload, lazyload, selectinload], ids=["joined", "lazy", "selectin"]
)
def test_relationship_loads_reach_the_tenants_own_rows(shops, db, loader):
    a, _b = shops
    with db(a.tenant) as session:
        stmt = select(Redemption).options(loader(Redemption.reward), loader(Redemption.member))
        own = session.scalars(stmt).one()
        assert own.reward.id == a.reward_id
        assert own.member.id == a.member_ids[0]


def _emails(platform, tenant_id: int) -> set[str]:
    with platform_session(platform.sessions) as session:
        return set(
            session.scalars(
                select(Customer.email)
                .join(Membership, Membership.customer_id == Customer.id)
                .where(Membership.tenant_id == tenant_id)
            )
        )


# Each statement counts the tenant's entries or members through a join, a
# select_from, a subquery or EXISTS: the criteria must reach every one of them.
JOINS = {
    "entry-join-member": (
        Entry,
        lambda: (
            select(func.count())
            .select_from(Entry)
            .join(Membership, Membership.id == Entry.member_id)
        ),
    ),
    "select_from": (Membership, lambda: select(func.count()).select_from(Membership)),
    "subquery": (
        Membership,
        lambda: select(func.count()).select_from(select(Membership.id).subquery()),
    ),
    "in-subquery": (
        Membership,
        lambda: select(func.count(Customer.id)).where(
            Customer.id.in_(select(Membership.customer_id))
        ),
    ),
    "exists": (
        Membership,
        lambda: select(func.count(Customer.id)).where(
            select(Membership.id).where(Membership.customer_id == Customer.id).exists()
        ),
    ),
    "shared-join-owned": (
        Membership,
        lambda: select(func.count(Customer.id)).join(
            Membership, Membership.customer_id == Customer.id
        ),
    ),
    # Wrapped columns lose the ORM's annotations on their way to the FROM.
    "aggregate-filter": (
        Entry,
        lambda: select(func.coalesce(func.count(Entry.id).filter(Entry.points != 0), 0)),
    ),
    "window": (Entry, lambda: select(func.count(Entry.id).over()).limit(1)),
    "core-table": (Membership, lambda: select(func.count(Membership.__table__.c.id))),
    "orm-subquery-in-core": (
        Membership,
        lambda: select(func.count().over()).select_from(select(Membership.id).subquery()).limit(1),
    ),
}


@pytest.mark.parametrize(("model", "make_stmt"), JOINS.values(), ids=JOINS.keys())
def test_joins_and_subqueries_reach_own_rows_only(shops, platform, db, model, make_stmt):
    truth = _truth(platform, model)
    for shop in shops:
        with db(shop.tenant) as session:
            assert session.scalar(make_stmt()) == len(truth[shop.tenant.id])


def test_join_selecting_shared_rows_lists_own_customers_only(shops, platform, db):
    # Customers are platform accounts; reached through memberships, only this
    # tenant's own members show.
    for shop in shops:
        with db(shop.tenant) as session:
            emails = set(
                session.scalars(
                    select(Customer.email).join(Membership, Membership.customer_id == Customer.id)
                )
            )
            pairs = session.execute(
                select(Entry.id, Membership.id).join(Membership, Membership.id == Entry.member_id)
            ).all()
        assert emails == _emails(platform, shop.tenant.id)
        assert {m for _, m in pairs} == set(shop.member_ids)


def test_a_core_subquery_or_alias_it_cannot_scope_raises(shops, db):
    # Refused rather than run unfiltered: the ORM would not compile these parts.
    entries, members = Entry.__table__, Membership.__table__
    a, _b = shops
    with db(a.tenant) as session:
        for stmt in (
            select(func.count()).select_from(select(func.count(Entry.id).over()).subquery()),
            select(func.count(members.alias("m").c.id)),
            select(func.count()).select_from(entries.join(members)),
        ):
            with pytest.raises(TenancyError):
                session.execute(stmt)


# --- bulk writes -------------------------------------------------------------


def _balances(platform) -> dict[int, tuple[int, str | None]]:
    with platform_session(platform.sessions) as session:
        return {m.id: (m.tenant_id, m.phone) for m in session.scalars(select(Membership))}


def test_bulk_update_changes_own_rows_only(shops, platform, db):
    a, b = shops
    with db(a.tenant) as session:
        changed = session.execute(update(Membership).values(phone="+57 300")).rowcount
        targeted = session.execute(
            update(Membership).where(Membership.id.in_(b.member_ids)).values(phone="hacked")
        ).rowcount
        session.commit()
    assert (changed, targeted) == (len(a.member_ids), 0)
    phones = _balances(platform)
    assert {phones[i][1] for i in a.member_ids} == {"+57 300"}
    assert {phones[i][1] for i in b.member_ids} == {None}


def test_bulk_delete_removes_own_rows_only(shops, platform, db):
    a, b = shops
    with db(a.tenant) as session:
        extra = create_reward(session, name="Unused", points=1)
        session.commit()
        targeted = session.execute(delete(Reward).where(Reward.id == b.reward_id)).rowcount
        removed = session.execute(delete(Reward).where(Reward.id == extra.id)).rowcount
        session.commit()
    assert (targeted, removed) == (0, 1)
    rewards = _truth(platform, Reward)
    assert rewards[a.tenant.id] == {a.reward_id}
    assert rewards[b.tenant.id] == {b.reward_id}


def test_core_table_update_and_delete_are_scoped_too(shops, platform, db):
    a, b = shops
    rewards = Reward.__table__
    with db(a.tenant) as session:
        changed = session.execute(update(rewards).values(stock=99)).rowcount
        removed = session.execute(delete(rewards).where(rewards.c.id == b.reward_id)).rowcount
        session.commit()
    assert (changed, removed) == (1, 0)
    with platform_session(platform.sessions) as session:
        stock = dict(session.execute(select(Reward.id, Reward.stock)).all())
    assert stock == {a.reward_id: 99, b.reward_id: 9}


@pytest.mark.parametrize("statement", ["core", "orm"])
def test_insert_statements_of_tenant_rows_are_refused(shops, db, platform, statement):
    a, b = shops
    target = TenantSetting.__table__ if statement == "core" else TenantSetting
    with db(a.tenant) as session, pytest.raises(TenancyError):
        session.execute(insert(target).values(tenant_id=b.tenant.id, namespace="x", data={}))
    with platform_session(platform.sessions) as session:
        assert (
            session.scalar(
                select(func.count(TenantSetting.id)).where(TenantSetting.namespace == "x")
            )
            == 0
        )


def test_switching_a_plugin_touches_only_that_tenant(shops, platform, db):
    a, b = shops
    with db(b.tenant) as session:
        platform.plugins.switch(session, b.tenant, "notifications", False)
        session.commit()
    with platform_session(platform.sessions) as session:  # sees every tenant's switches
        platform.plugins.switch(session, a.tenant, "notifications", True)
        session.commit()
    with db(b.tenant) as session:
        assert "notifications" not in platform.plugins.active(session, b.tenant)
    with db(a.tenant) as session:
        assert "notifications" in platform.plugins.active(session, a.tenant)


def test_bulk_delete_without_where_spares_other_tenants(make_tenant, platform, db):
    a, b = make_tenant(), make_tenant()
    for tenant in (a, b):
        with db(tenant) as session:
            create_reward(session, name="one", points=1)
            create_reward(session, name="two", points=2)
            session.commit()
    with db(a) as session:
        assert session.execute(delete(Reward)).rowcount == 2
        session.commit()
    rewards = _truth(platform, Reward)
    assert a.id not in rewards and len(rewards[b.id]) == 2


# --- sessions with no tenant, and writing ------------------------------------


NO_TENANT = {
    "select": lambda s: s.scalars(select(Membership)).all(),
    "get": lambda s: s.get(Membership, 1),
    "count": lambda s: s.scalar(select(func.count(StaffUser.id))),
    "select_from": lambda s: s.scalar(select(func.count()).select_from(Entry)),
    "join-from-shared": lambda s: s.scalars(
        select(Customer.email).join(Membership, Membership.customer_id == Customer.id)
    ).all(),
    "in-subquery": lambda s: s.scalars(
        select(Customer.id).where(Customer.id.in_(select(Membership.customer_id)))
    ).all(),
    "update": lambda s: s.execute(update(Reward).values(active=False)),
    "delete": lambda s: s.execute(delete(Reward)),
}


@pytest.mark.parametrize("run", NO_TENANT.values(), ids=NO_TENANT.keys())
def test_tenant_data_in_a_session_with_no_tenant_raises(shops, platform, run):
    with platform.sessions() as session, pytest.raises(TenancyError):
        run(session)
    assert len(_truth(platform, Reward)) == 2  # the update/delete did not run


def test_session_with_no_tenant_may_read_platform_tables(shops, platform):
    with platform.sessions() as session:
        assert len(session.scalars(select(Tenant)).all()) == 2
        assert {p.code for p in session.scalars(select(Plan))} >= {"free", "white-label"}
        assert len(session.scalars(select(Customer)).all()) == 5


def test_writing_tenant_rows_with_no_tenant_raises(shops, platform):
    a, _b = shops
    with platform.sessions() as session:
        session.add(Location(tenant_id=a.tenant.id, name="Centro"))
        with pytest.raises(TenancyError):
            session.flush()
    assert _truth(platform, Location) == {}


def test_flush_refuses_a_row_of_another_tenant(shops, platform, db):
    a, b = shops
    with db(a.tenant) as session:
        session.add(Location(tenant_id=b.tenant.id, name="Intrusa"))
        with pytest.raises(TenancyError):
            session.flush()
    assert _truth(platform, Location) == {}


def test_flush_refuses_moving_own_row_to_another_tenant(shops, platform, db):
    a, b = shops
    with db(a.tenant) as session:
        reward = session.get(Reward, a.reward_id)
        reward.tenant_id = b.tenant.id
        with pytest.raises(TenancyError):
            session.commit()
    assert _truth(platform, Reward)[a.tenant.id] == {a.reward_id}


def test_tenant_id_is_filled_on_add(shops, platform, db):
    a, b = shops
    with db(a.tenant) as session:
        location = Location(name="Centro")
        session.add(location)
        session.flush()
        assert location.tenant_id == a.tenant.id
        session.commit()
    assert _truth(platform, Location) == {a.tenant.id: {location.id}}
    with db(b.tenant) as session:
        assert session.get(Location, location.id) is None


def test_a_sessions_tenant_cannot_change(shops, platform, db):
    a, b = shops
    with db(a.tenant) as session:
        scope(session, a.tenant.id)  # the same tenant again is fine
        with pytest.raises(TenancyError):
            scope(session, b.tenant.id)
        with pytest.raises(TenancyError):
            scope(session, ALL_TENANTS)
        assert {m.id for m in session.scalars(select(Membership))} == set(a.member_ids)
    with platform_session(platform.sessions) as session, pytest.raises(TenancyError):
        scope(session, a.tenant.id)
    with tenant_session(platform.sessions, b.tenant.id) as session:
        assert {m.id for m in session.scalars(select(Membership))} == set(b.member_ids)


# --- the platform session ----------------------------------------------------


def test_platform_session_sees_every_tenant(shops, platform):
    a, b = shops
    with platform_session(platform.sessions) as session:
        members = {m.id for m in session.scalars(select(Membership))}
        staff = session.scalars(select(StaffUser.tenant_id)).all()
    assert members == set(a.member_ids) | set(b.member_ids)
    assert sorted(staff) == sorted([a.tenant.id, b.tenant.id])


def test_platform_session_needs_an_explicit_tenant_id(shops, platform, db):
    a, b = shops
    with platform_session(platform.sessions) as session:
        session.add(Reward(name="Sin dueño", points=1))
        with pytest.raises(TenancyError):
            session.flush()
        session.rollback()
        session.add(Reward(tenant_id=b.tenant.id, name="De B", points=1))
        session.commit()
    rewards = _truth(platform, Reward)
    assert len(rewards[b.tenant.id]) == 2 and rewards[a.tenant.id] == {a.reward_id}
    with db(a.tenant) as session:
        assert [r.name for r in session.scalars(select(Reward))] == [f"Café {a.tenant.slug}"]


# --- the schema ----------------------------------------------------------------


def _tenant_owned_tables():
    return {
        mapper.local_table.name: mapper.local_table
        for mapper in Base.registry.mappers
        if is_tenant_owned(mapper.class_)
    }


# Tables whose rows keep their tenant's id with no key to it, each saying what removes
# its rows instead of a tenant's deletion: the key locked the tenant's row at every sale.
KEYLESS = {"outbox", "api_idempotent_responses"}


def test_every_tenant_owned_table_has_a_tenant_id_to_tenants():
    tables = _tenant_owned_tables()
    assert {
        "memberships",
        "ledger_entries",
        "ledger_lots",
        "ledger_allocations",
        "rewards",
        "redemptions",
        "staff_users",
        "locations",
        "tenant_plugins",
        "tenant_settings",
        "expiry_runs",
        "notifications_deliveries",
    } <= set(tables)
    for name, table in tables.items():
        column = table.c.get("tenant_id")
        assert column is not None, name
        assert not column.nullable, name
        targets = {fk.target_fullname for fk in column.foreign_keys}
        if name in KEYLESS:  # short-lived rows a sale writes (core_0022, api_0003)
            assert not targets and table.info.get("no_tenant_key"), name
            continue
        # its own key to tenants, or one implied: a NOT NULL composite key to a tenant-owned
        # row that cascades its deletion (the ledger's entries and lots, through the member)
        assert "tenants.id" in targets or any(
            constraint.referred_table.name in tables
            and "tenant_id" in constraint.column_keys
            and constraint.ondelete == "CASCADE"
            and not any(c.nullable for c in constraint.columns)
            and "tenants.id"
            in {fk.target_fullname for fk in constraint.referred_table.c.tenant_id.foreign_keys}
            for constraint in table.foreign_key_constraints
        ), name
        # its other references are the tenant half of composite keys to tenant-owned rows
        assert {t.split(".")[0] for t in targets - {"tenants.id"}} <= set(tables), name
        assert any(next(iter(ix.columns)) is column for ix in table.indexes), name
    # no other table goes without a key, and none without saying why
    keyless = {name for name, table in tables.items() if table.info.get("no_tenant_key")}
    assert keyless == KEYLESS
    # and no other table carries a tenant_id that scoping would not know about
    others = {t.name for t in Base.metadata.tables.values() if "tenant_id" in t.c}
    assert others == set(tables)


def test_unique_constraints_of_tenant_owned_tables_include_tenant_id():
    for name, table in _tenant_owned_tables().items():
        uniques = [c for c in table.constraints if isinstance(c, UniqueConstraint)]
        uniques += [ix for ix in table.indexes if ix.unique]
        for constraint in uniques:
            columns = tuple(c.name for c in constraint.columns)
            assert "tenant_id" in columns, (
                f"{name}: unique {columns} lacks tenant_id (one tenant could block another)"
            )


def test_references_between_tenant_owned_tables_carry_the_tenant():
    tables = _tenant_owned_tables()
    checked = 0
    for name, table in tables.items():
        for fk in table.foreign_key_constraints:
            if fk.referred_table.name not in tables:
                continue
            checked += 1
            assert fk.column_keys[0] == "tenant_id", (name, fk.column_keys)
            assert fk.elements[0].target_fullname == f"{fk.referred_table.name}.tenant_id"
    assert checked >= 12  # entries, lots, allocations, redemptions, staff


PERSON_SHAPES = {
    "entity": lambda: select(Customer.email),
    "subquery": lambda: select(select(Customer.email).subquery().c.email),
    "union": lambda: union(select(Customer.email), select(Customer.email)),
    "outer-join": lambda: select(Customer.email).outerjoin(
        Membership, Membership.customer_id == Customer.id
    ),
    "cartesian": lambda: select(Customer.email, Membership.id),
    "exists": lambda: select(Customer.email).where(exists(select(Membership.id))),
    "scalar-subquery": lambda: select(
        Membership.id, select(Customer.email).limit(1).scalar_subquery()
    ),
    "count-from-subquery": lambda: select(func.count()).select_from(select(Customer).subquery()),
}


@pytest.mark.filterwarnings("ignore:SELECT statement has a cartesian product")
@pytest.mark.parametrize("shape", PERSON_SHAPES)
def test_a_tenant_reaches_people_only_through_its_memberships(shops, db, platform, shape):
    a, _b = shops
    with platform_session(platform.sessions) as session:
        own = set(
            session.scalars(
                select(Customer.email)
                .join(Membership, Membership.customer_id == Customer.id)
                .where(Membership.tenant_id == a.tenant.id)
            )
        )
        everyone = set(session.scalars(select(Customer.email)))
    assert own < everyone
    with db(a.tenant) as session:
        rows = session.execute(PERSON_SHAPES[shape]()).all()
    if shape == "count-from-subquery":
        assert rows == [(len(own),)]
    else:
        seen = {value for row in rows for value in row if isinstance(value, str)}
        assert seen and seen <= own


def test_a_person_lookup_says_so_and_core_tables_are_refused(shops, db):
    a, _b = shops
    with db(a.tenant) as session:
        anyone = session.scalars(select(Customer).execution_options(person_lookup=True)).all()
        assert len(anyone) > len(a.member_ids)
        with pytest.raises(TenancyError):
            session.execute(select(Customer.__table__.c.email)).all()


def test_person_scoping_is_not_cached_for_the_first_tenant(shops, db, platform):
    """The same statement shapes, alternating tenants: each sees its own people only."""
    with platform_session(platform.sessions) as session:
        own = {
            shop.tenant.id: set(
                session.scalars(
                    select(Customer.email)
                    .join(Membership, Membership.customer_id == Customer.id)
                    .where(Membership.tenant_id == shop.tenant.id)
                )
            )
            for shop in shops
        }
    for shop in [*shops, *shops]:
        with db(shop.tenant) as session:
            for shape in ("entity", "subquery", "outer-join"):
                seen = set(session.scalars(PERSON_SHAPES[shape]()))
                assert seen == own[shop.tenant.id], (shape, shop.tenant.slug)
            members = session.scalars(select(Membership)).all()
            assert {m.customer.email for m in members} == own[shop.tenant.id]


# --- connections that died in the pool ---------------------------------------


def _terminate(database_url: str, pids: list[int]) -> None:
    """End these backends from outside, as a PostgreSQL restart does, and wait until they
    are gone (their goodbye is then on the pooled connections' sockets)."""
    import time

    import psycopg

    with psycopg.connect(database_url.replace("+psycopg", ""), autocommit=True) as admin:
        for pid in pids:
            assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]
        deadline = time.monotonic() + 10
        while admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [pids]
        ).fetchone()[0]:
            assert time.monotonic() < deadline, "the backends did not end"
            time.sleep(0.02)


@pytest.mark.postgres
def test_a_connection_whose_backend_ended_is_replaced_without_a_failure(database_url):
    engine = make_engine(database_url, pool_size=2, max_overflow=0)
    try:
        with engine.connect() as conn:
            first = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        with engine.connect() as conn:  # a live pooled connection is kept
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar() == first
        _terminate(database_url, [first])
        with engine.connect() as conn:
            second = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        assert second != first
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("pre_ping, sends", [(False, False), (True, True)])
def test_checking_out_a_live_connection_sends_nothing(database_url, tmp_path, pre_ping, sends):
    """No ping: a pooled connection goes to its first statement at once (with the ping
    SQLAlchemy offers, the same check-out writes to the server: the test would see it)."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0, pool_pre_ping=pre_ping)
    trace = tmp_path / "protocol.log"
    try:
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            conn.execute(text("SELECT 1"))
        with trace.open("w") as out:
            raw.pgconn.trace(out.fileno())
            with engine.connect() as conn:
                assert conn.connection.dbapi_connection is raw
                raw.pgconn.untrace()
                conn.execute(text("SELECT 1"))
        assert (trace.read_text() != "") is sends
    finally:
        engine.dispose()


def _protocol(raw, tmp_path, work) -> list[tuple[str, str]]:
    """(direction, message) of what `work()` exchanged with the server on `raw`."""
    trace = tmp_path / "protocol.log"
    with trace.open("w") as out:
        raw.pgconn.trace(out.fileno())
        try:
            work()
        finally:
            raw.pgconn.untrace()
    return [tuple(line.split("\t")[1:4:2]) for line in trace.read_text().splitlines()]


@pytest.mark.postgres
def test_a_transaction_begins_with_its_first_statement_in_one_round_trip(database_url, tmp_path):
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            conn.rollback()
            raw = conn.connection.dbapi_connection
            sent = _protocol(raw, tmp_path, lambda: conn.execute(text("SELECT 2")).all())
            first_answer = next(n for n, (way, _m) in enumerate(sent) if way == "B")
            asked = [message for way, message in sent[:first_answer]]
            # BEGIN and the statement left before anything came back.
            assert asked.count("Parse") == 2 and asked.count("Execute") == 2, sent
            assert sent[-1] == ("B", "ReadyForQuery")
            assert conn.execute(text("SELECT now() = statement_timestamp()")).scalar() is False
            conn.rollback()
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_streamed_rows_and_a_copy_as_a_transactions_first_statement(database_url):
    # psycopg pipelines no server-side cursor, and a COPY goes to the driver itself:
    # each must still begin the transaction, and go with its rollback.
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("CREATE TEMPORARY TABLE c (v integer)"))
            conn.commit()
            streamed = conn.execute(
                text("SELECT generate_series(1, 25)").execution_options(yield_per=10)
            )
            assert sum(len(part) for part in streamed.partitions()) == 25
            assert conn.connection.dbapi_connection.pgconn.transaction_status != 0
            conn.rollback()
            raw = driver_connection(conn)
            with raw.cursor() as cursor, cursor.copy("COPY c (v) FROM STDIN") as copy:
                copy.write_row((1,))
            conn.rollback()
            assert conn.execute(text("SELECT count(*) FROM c")).scalar() == 0
            conn.rollback()
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_transaction_that_began_with_its_statement_rolls_back_whole(database_url):
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("CREATE TEMPORARY TABLE t (v integer UNIQUE)"))
            conn.commit()
            conn.execute(text("INSERT INTO t VALUES (1)"))
            conn.execute(text("INSERT INTO t VALUES (2)"))
            conn.rollback()
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
            conn.rollback()
            with pytest.raises(IntegrityError):
                conn.execute(text("INSERT INTO t VALUES (3), (3)"))  # fails as it begins
            conn.rollback()
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SELECT 1"))  # SQLAlchemy's autocommit: no transaction
            assert conn.connection.dbapi_connection.pgconn.transaction_status == 0
    finally:
        engine.dispose()
