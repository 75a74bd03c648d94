"""Database: the declarative base, engines, and sessions scoped to one tenant.

Every session is opened either for one tenant (`tenant_session`) or, for the
platform's own work, explicitly across tenants (`platform_session`). A query of
a tenant-owned model in a tenant session is filtered to that tenant by the
`do_orm_execute` hook below; a tenant-owned query in a session with no scope
raises. A flush refuses rows that belong to another tenant. So scoping holds by
construction: no service has to remember a `WHERE tenant_id = …`.
"""

from __future__ import annotations

import logging
import select
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Alias,
    DateTime,
    Delete,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    MetaData,
    Select,
    Table,
    UniqueConstraint,
    Update,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Mapper,
    ORMExecuteState,
    Session,
    declared_attr,
    mapped_column,
    sessionmaker,
    with_loader_criteria,
)
from sqlalchemy.sql import util as sql_util
from sqlalchemy.sql import visitors
from sqlalchemy.types import TypeDecorator

from core.host import keys  # noqa: F401  (its DDL hooks render the keys on PostgreSQL)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

log = logging.getLogger(__name__)

ALL_TENANTS = "all"  # the scope of a platform session


class TenancyError(RuntimeError):
    """A query or a row crossed the tenant boundary of its session."""


_clock: ContextVar[datetime | None] = ContextVar("premia_clock", default=None)


def utcnow() -> datetime:
    """Now, in UTC; `clock_at` moves it (demo history, tests of month boundaries)."""
    return _clock.get() or datetime.now(UTC)


@contextmanager
def clock_at(moment: datetime) -> Iterator[None]:
    """Record everything inside as happening at `moment` (aware)."""
    if moment.tzinfo is None:
        raise ValueError("clock_at needs an aware datetime")
    token = _clock.set(moment)
    try:
        yield
    finally:
        _clock.reset(token)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    """The declarative base of every model, the core's and plugins' (one naming convention)."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime}


class TenantOwned:
    """Mixin for every row that belongs to one tenant."""

    @declared_attr
    def tenant_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)


def tenant_fk(column: str, target: str, **kwargs: Any) -> ForeignKeyConstraint:
    """A reference to another tenant-owned table through (tenant_id, id).

    The database then refuses a row that points at another tenant's row, and
    the schema stays distributable by tenant (a cluster needs the distribution
    column in every foreign key). The target declares `tenant_key(...)`.
    """
    return ForeignKeyConstraint(
        ["tenant_id", column], [f"{target}.tenant_id", f"{target}.id"], **kwargs
    )


def tenant_key() -> UniqueConstraint:
    """The (tenant_id, id) key that `tenant_fk` references."""
    return UniqueConstraint("tenant_id", "id")


def tenant_unique_where_set(table: str, column: str) -> Index:
    """`column` unique within a tenant where it is set: a partial index, for a column
    most rows leave NULL (each NULL would be an index entry written for nothing)."""
    where = text(f"{column} IS NOT NULL")
    return Index(
        f"uq_{table}_tenant_id_{column}",
        "tenant_id",
        column,
        unique=True,
        postgresql_where=where,
        sqlite_where=where,
    )


class ReachedThroughTenant:
    """Mixin for a platform row that a tenant sees only through a row of its own:
    a Customer (one per person, shared by merchants) through its Membership.

    In a tenant session every query of such a model is filtered by
    `tenant_criteria(tenant_id)`, like tenant-owned rows are by `tenant_id`; a
    deliberate lookup of one person (to enrol them) says `person_lookup=True`
    in its execution options. A model using it defines the classmethod
    `tenant_criteria(tenant_id)`.
    """


def is_tenant_owned(cls: type) -> bool:
    return isinstance(cls, type) and issubclass(cls, TenantOwned)


# --- engines -------------------------------------------------------------


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    engine = create_engine(url, **kwargs)
    event.listen(engine, "checkout", _refuse_dead_connection)
    if engine.dialect.driver == "psycopg":
        _begin_with_the_first_statement(engine)
    return engine


def _begin_with_the_first_statement(engine: Engine) -> None:
    """Send a transaction's BEGIN together with its first statement: one round trip.

    psycopg sends BEGIN on its own and waits for the answer before the first statement
    of a transaction (a round trip of the 7 of an API earn). Its connections here are
    in autocommit, and where SQLAlchemy's transaction has not begun on the server yet,
    BEGIN and the statement go out in one pipeline (the extended protocol: nothing
    waits in between). A statement that fails fails the transaction as before; commit
    and rollback are psycopg's, which send COMMIT or ROLLBACK only inside a
    transaction. Where SQLAlchemy itself asks for autocommit, or changes the isolation
    level (psycopg then begins as it does), nothing is added."""
    from psycopg import ServerCursor
    from psycopg.pq import TransactionStatus

    @event.listens_for(engine, "connect")
    def _autocommit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.autocommit = True

    @event.listens_for(engine, "checkout")
    def _again(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        # A connection whose isolation level SQLAlchemy reset on its return.
        if dbapi_connection.pgconn.transaction_status == TransactionStatus.IDLE:
            dbapi_connection.autocommit = True

    def begun(cursor: Any, context: Any) -> bool:
        conn = cursor.connection
        return (
            conn.autocommit
            and conn.pgconn.transaction_status == TransactionStatus.IDLE
            and conn._pipeline is None
            and not (context is not None and context.root_connection._is_autocommit_isolation())
        )

    @event.listens_for(engine, "do_execute")
    def _execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool | None:
        if not begun(cursor, context):
            return None
        if isinstance(cursor, ServerCursor):  # streamed rows: psycopg pipelines none
            cursor.connection.execute(b"BEGIN")
            return None
        with cursor.connection.pipeline():
            cursor.execute(b"BEGIN")
            cursor.execute(statement, parameters)
        return True

    @event.listens_for(engine, "do_execute_no_params")
    def _execute_no_params(cursor: Any, statement: str, context: Any) -> bool | None:
        if not begun(cursor, context):
            return None
        with cursor.connection.pipeline():
            cursor.execute(b"BEGIN")
            cursor.execute(statement)
        return True

    @event.listens_for(engine, "do_executemany")
    def _executemany(cursor: Any, statement: str, parameters: Any, context: Any) -> bool | None:
        if not begun(cursor, context):
            return None
        with cursor.connection.pipeline():
            cursor.execute(b"BEGIN")
            cursor.executemany(statement, parameters)
        return True


def driver_connection(conn: Any) -> Any:
    """The driver's own connection under SQLAlchemy's `conn`, for what only the driver
    does (COPY), inside `conn`'s transaction.

    PostgreSQL connections run in autocommit, their BEGIN sent with the first statement
    that goes through SQLAlchemy (above): a COPY sent first, straight to the driver,
    would commit on its own and survive a rollback. So BEGIN is sent here first."""
    raw = conn.connection.driver_connection
    if conn.dialect.driver == "psycopg":
        from psycopg.pq import TransactionStatus

        if not conn.in_transaction():
            conn.begin()  # as a statement through `conn` would (autobegin)

        idle = raw.pgconn.transaction_status == TransactionStatus.IDLE
        if raw.autocommit and idle and not conn._is_autocommit_isolation():
            raw.execute("BEGIN")
    return raw


def _refuse_dead_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Hand out no pooled connection whose server side has gone, without a round trip.

    A backend that ends (PostgreSQL restarted, `pg_terminate_backend`) says so on its
    socket, or closes it: an idle connection with something to read is dead. The pool
    then drops it and checks out a fresh one (SQLAlchemy's pessimistic disconnect
    handling), where a ping (`pool_pre_ping`) cost every request a round trip."""
    if dbapi_connection.closed or getattr(dbapi_connection, "broken", False):
        raise DisconnectionError()
    readable, _w, _x = select.select([dbapi_connection.fileno()], [], [], 0)
    if readable:
        raise DisconnectionError()


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling would defer the write lock to the first
    # write and fail with "database is locked" on upgrade; BEGIN IMMEDIATE
    # serialises writers up front, which is what the embedded default needs.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(
    engine: Engine, *, raise_after_commit: bool = False, redis: Any = None
) -> sessionmaker[Session]:
    # Objects stay readable after commit: hooks announced after commit get them. With
    # Redis, a commit that changed a versioned row publishes it (core.host.versions).
    return sessionmaker(
        bind=engine,
        expire_on_commit=False,
        info={"raise_after_commit": raise_after_commit, "redis": redis},
    )


@contextmanager
def tenant_session(factory: sessionmaker[Session], tenant_id: int) -> Iterator[Session]:
    """A session that sees and writes only `tenant_id`'s rows."""
    session = factory()
    scope(session, tenant_id)
    try:
        yield session
    finally:
        session.close()


@contextmanager
def platform_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for the platform's own work across tenants (operator, scheduler)."""
    session = factory()
    scope(session, ALL_TENANTS)
    try:
        yield session
    finally:
        session.close()


def scope(session: Session, tenant_id: int | str) -> None:
    """Scope a session to a tenant (or all of them, for the platform); it never changes."""
    current = session.info.get("tenant_id")
    if current is not None and current != tenant_id:
        raise TenancyError("a session's tenant cannot change")
    session.info["tenant_id"] = tenant_id


def credential_lookup(
    session: Session, statement: Any, params: dict[str, Any] | None = None
) -> Any:
    """Run the one statement that finds whose a credential is (an API token by its
    hash), in a session with no tenant yet. The caller then scopes the session to
    the tenant found (`scope`), and everything after is filtered as usual."""
    if session.info.get("tenant_id") is not None:
        raise TenancyError("a credential is looked up before the session has a tenant")
    return session.execute(statement, params, execution_options={"credential_lookup": True})


def session_tenant_id(session: Session) -> int:
    """The tenant a tenant session is scoped to; raises for any other session."""
    tenant_id = session.info.get("tenant_id")
    if not isinstance(tenant_id, int):
        raise TenancyError("this operation needs a session scoped to one tenant")
    return tenant_id


@event.listens_for(Session, "do_orm_execute")
def _scope_to_tenant(state: ORMExecuteState) -> None:
    if state.is_column_load or state.is_relationship_load:
        return  # the criteria below propagate to these loads
    tenant_id = state.session.info.get("tenant_id")
    if tenant_id == ALL_TENANTS:
        return
    if state.is_insert:
        # An INSERT statement bypasses the flush guard; tenant rows go through add().
        table = getattr(state.statement, "table", None)
        if table is not None and table.name in _owned_classes():
            raise TenancyError(f"insert into {table.name} with session.add(), not an INSERT")
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if tenant_id is None:
        if state.execution_options.get("credential_lookup"):
            return  # see credential_lookup()
        if _touches_tenant_data(state):
            raise TenancyError("tenant-owned data queried in a session with no tenant")
        return
    # Always, not only when a tenant-owned entity is selected: the criteria also
    # reach tenant-owned tables in joins, select_from(), subqueries and EXISTS.
    state.statement = _scoped(
        state.statement, tenant_id, bool(state.execution_options.get("person_lookup"))
    )


def scoped_statement(session: Session, statement: Any, *, person_lookup: bool = False) -> Any:
    """`statement` as a tenant session runs it (the loader criteria of the
    `do_orm_execute` hook applied), for a statement compiled once and sent past the
    session (core.host.driver). Only for a session scoped to one tenant."""
    return _scoped(statement, session_tenant_id(session), person_lookup)


_options_cache: dict[tuple[int, bool], tuple[Any, ...]] = {}
# Statements built once (the hot paths keep theirs) are scoped once per tenant: a new
# statement object each time would also mean a new cache key to compute each time.
_scoped_cache: weakref.WeakKeyDictionary[Any, dict[tuple[int, bool], Any]] = (
    weakref.WeakKeyDictionary()
)


def _scoped(statement: Any, tenant_id: int, person_lookup: bool) -> Any:
    key = (tenant_id, person_lookup)
    known = _scoped_cache.get(statement)
    if known is not None and key in known:
        return known[key]
    scoped = _scope_core_statement(statement, tenant_id).options(
        *_tenant_options(tenant_id, person_lookup)
    )
    if known is None:
        known = _scoped_cache.setdefault(statement, {})
    if len(known) >= 1000:  # bounded: many tenants, one process
        known.clear()
    known[key] = scoped
    return scoped


def _tenant_options(tenant_id: int, person_lookup: bool) -> tuple[Any, ...]:
    """The loader criteria that scope a statement to `tenant_id`, built once per tenant
    (they are immutable; building them took a tenth of an API request's time)."""
    key = (tenant_id, person_lookup)
    options = _options_cache.get(key)
    if options is None:
        options = (
            with_loader_criteria(
                TenantOwned,
                lambda cls: cls.tenant_id == tenant_id,
                include_aliases=True,
            ),
        )
        if not person_lookup:
            options += tuple(
                with_loader_criteria(
                    cls, lambda c: c.tenant_criteria(tenant_id), include_aliases=True
                )
                for cls in _shared_classes().values()
            )
        if len(_options_cache) >= 10_000:  # bounded: many tenants, one process
            _options_cache.clear()
        _options_cache[key] = options
    return options


_owned_cache: dict[str, type] | None = None
_shared_cache: dict[str, type] | None = None


@event.listens_for(Mapper, "after_mapper_constructed")
def _models_changed(_mapper: Any, _cls: Any) -> None:
    # Recompute the lists below when a model is added (`registry.mappers` is rebuilt
    # on every access: too slow to read for every statement).
    global _owned_cache, _shared_cache
    _owned_cache = _shared_cache = None
    _options_cache.clear()


def _shared_classes() -> dict[str, type]:
    """Models reached through a tenant's own rows, by table name."""
    global _shared_cache
    found = _shared_cache
    if found is None:
        found = {
            m.local_table.name: m.class_
            for m in Base.registry.mappers
            if issubclass(m.class_, ReachedThroughTenant)
        }
        _shared_cache = found
    return found


def _owned_classes() -> dict[str, type]:
    """Tenant-owned tables by name (recomputed only when models are added)."""
    global _owned_cache
    found = _owned_cache
    if found is None:
        found = {
            m.local_table.name: m.class_ for m in Base.registry.mappers if is_tenant_owned(m.class_)
        }
        _owned_cache = found
    return found


def _scope_core_statement(statement: Any, tenant_id: int) -> Any:
    """Scope the statements (or parts) that the ORM does not compile, or refuse them.

    The ORM compiles a SELECT, and so applies the loader criteria, only when one
    of its columns carries the ORM's mark; columns wrapped in FILTER, OVER,
    WITHIN GROUP or aggregate_order_by, and Core `Table` columns, do not:
    `select(func.sum(Entry.points).filter(...))` summed every tenant's entries.
    At the top level, `select_from(Entry)` names the same FROM as an entity, and
    a Core UPDATE or DELETE gets the tenant's WHERE; anything else (a Core join,
    alias or subquery over tenant-owned tables) raises.
    """
    core = [
        element
        for element in visitors.iterate(statement)
        if isinstance(element, (Select, Update, Delete)) and not element._propagate_attrs
    ]
    if not core:
        return statement  # the usual case: the ORM compiles it all
    owned = _owned_classes()
    shared = _shared_classes()
    entities: list[type] = []
    for element in core:
        tops = element.get_final_froms() if isinstance(element, Select) else [element.table]
        for top in tops:
            for from_ in sql_util.surface_selectables(top):
                table = from_.element if isinstance(from_, Alias) else from_
                if isinstance(table, Table) and table.name in shared:
                    raise TenancyError(f"{table.name} in a tenant session: use the ORM entity")
                if not (isinstance(table, Table) and table.name in owned):
                    continue
                if not (element is statement and from_ is top and from_ is table):
                    raise TenancyError(
                        f"{table.name} is reached through a Core subquery, alias or join that "
                        "tenant scoping cannot filter: use the ORM entity there"
                    )
                entities.append(owned[table.name])
    if not entities:
        return statement
    if isinstance(statement, Select):
        return statement.select_from(*entities)
    return statement.where(statement.table.c.tenant_id == tenant_id)


def _touches_tenant_data(state: ORMExecuteState) -> bool:
    """Whether a statement selects, joins or filters on a tenant-owned table anywhere."""
    if any(is_tenant_owned(m.class_) for m in state.all_mappers):
        return True
    owned = _owned_classes()
    return any(
        isinstance(element, Table) and element.name in owned
        for element in visitors.iterate(state.statement)
    )


@event.listens_for(Session, "before_flush")
def _guard_flush(session: Session, _context: Any, _instances: Any) -> None:
    tenant_id = session.info.get("tenant_id")
    # `session.new` builds a new set on each access: read once, not once per object
    # (a flush of 5,000 new rows spent seconds rebuilding it).
    new = session.new
    for obj in list(new) + list(session.dirty) + list(session.deleted):
        if not isinstance(obj, TenantOwned):
            continue
        if tenant_id is None:
            raise TenancyError("tenant-owned row written in a session with no tenant")
        if obj.tenant_id is None and obj in new:
            if tenant_id == ALL_TENANTS:
                raise TenancyError(f"{type(obj).__name__} needs an explicit tenant_id")
            obj.tenant_id = tenant_id
        elif tenant_id != ALL_TENANTS and obj.tenant_id != tenant_id:
            raise TenancyError(f"{type(obj).__name__} of another tenant in this session")


# --- work after commit ---------------------------------------------------
# Announcements to plugins and jobs must not run for a transaction that is
# rolled back, nor see data before it is committed. Each piece of work is
# tagged with the (sub)transaction that queued it, so rolling back a savepoint
# drops exactly what was queued inside it.


def current_transaction(session: Session) -> Any:
    """The innermost transaction of the session (a savepoint, or the outermost)."""
    if session.get_transaction() is None:
        # Begin (no SQL yet) so that a rollback before any query still drops the work.
        session.begin()
    return session.get_nested_transaction() or session.get_transaction()


def after_commit(session: Session, callback: Any, *, outermost: bool = False) -> None:
    """Run `callback()` once the session's transaction commits (and not if the
    savepoint it was queued in rolls back; `outermost` ties it to the whole)."""
    transaction = current_transaction(session)
    if outermost:
        transaction = session.get_transaction()
    session.info.setdefault("after_commit", []).append((transaction, callback))


def _inside(transaction: Any, ancestor: Any) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint was released; the commit is later
        return
    callbacks = session.info.pop("after_commit", [])
    errors = []
    for _transaction, callback in callbacks:
        try:
            callback()
        except Exception as exc:  # every callback runs
            log.exception("work after commit failed")
            errors.append(exc)
    # The data is committed whatever happens here: only tests want the error raised.
    if errors and session.info.get("raise_after_commit"):
        raise errors[0]


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_rollback(session: Session, previous_transaction: Any) -> None:
    # A failed flush rolls back its own inner transaction; what is undone is the
    # nearest savepoint around it, or everything.
    undone = previous_transaction
    while undone.parent is not None and not undone.nested:
        undone = undone.parent
    if undone.parent is None:  # the outermost transaction
        for key in ("after_commit", "announcements", "outbox_jobs"):
            session.info.pop(key, None)
        return
    for key in ("after_commit", "announcements", "outbox_jobs"):  # a savepoint: what it queued
        if key in session.info:
            session.info[key] = [item for item in session.info[key] if not _inside(item[0], undone)]


@event.listens_for(Session, "after_transaction_end")
def _drop_after_close(session: Session, transaction: Any) -> None:
    # A session closed without committing ends its transaction with no rollback event;
    # after a commit, the callbacks have already been run and popped.
    if transaction.parent is None:
        for key in ("after_commit", "announcements", "outbox_jobs"):
            session.info.pop(key, None)
