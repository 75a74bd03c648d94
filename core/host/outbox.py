"""The outbox: what a transaction announced or queued, written in that transaction.

A commit's announcements to plugins (`core.host.events.announce`) and its
session-bound jobs (`worker.jobs.enqueue(session, …)`) used to live only in the
committing process's memory until after the commit: a process killed in between
lost them (an earn's e-mail, push and referral check). Now `record` writes ONE
row per committing transaction, holding them all, in the transaction itself, so
it commits or rolls back with the data. Then:

- where jobs run in-process (the embedded default, tests), the committing
  process deletes its row right after the commit and runs the hooks and jobs
  itself, as before; the embedded scheduler relays a row left behind by a process
  killed before that delete (`relay(…, older_than=…)`);
- with rq, the web process runs nothing after its commit (no hook CPU, no Redis
  round trip): every `premia worker` relays rows (`relay_forever`), claimed with
  `FOR UPDATE SKIP LOCKED` so that two relays never take one row, runs the hooks
  for them scoped to each row's tenant, queues their jobs in one Redis pipeline,
  then deletes the rows and commits. A relay killed between its Redis pipeline
  and its commit relays those rows again: at least once, and every job is
  idempotent (docs/scaling.md, "What a killed process can lose").

Records (an entry, a member) are stored as (model, primary key) with their column
values at the commit, read again when relayed (in a session of the row's tenant)
and given those values back, so that a hook sees what it saw after the commit;
other values are JSON, with tags for Decimal, date, datetime and enums.
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

from flask import Flask, current_app
from sqlalchemy import Connection, Engine, Text, delete, event, func, inspect, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.orm.attributes import set_committed_value

from core.host import driver
from core.host.db import (
    Base,
    TenantOwned,
    current_transaction,
    platform_session,
    tenant_session,
    utcnow,
)

log = logging.getLogger(__name__)

# Rows a relay claims at once: one Redis pipeline and one commit for all of them.
BATCH = 200
# How often an idle `premia worker` looks for rows: an earn's e-mail is queued within
# this (plus the hooks' time) of its commit. A busy relay loops without waiting.
POLL_SECONDS = 0.25
# A row the embedded runner's committing process has not deleted after this long was
# left by a process that died after its commit: the scheduler's tick relays it.
STALE_SECONDS = 30


class OutboxRow(TenantOwned, Base):
    """One committed transaction's announcements and jobs, not relayed yet."""

    __tablename__ = "outbox"
    # Read by the schema's test of tenant keys: why this table keeps none, and what
    # removes its rows instead of a tenant's deletion.
    __table_args__ = {"info": {"no_tenant_key": "relayed and deleted; a gone tenant's too"}}

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # {"a": [[hook, kwargs], …], "j": [[job path, args], …]}, tagged JSON (see `dump`).
    body: Mapped[str] = mapped_column(Text)
    # No key to `tenants` (core_0022): checked on every commit, it locked the merchant's
    # row for every concurrent sale; a relay deletes the rows of a merchant gone.
    tenant_id: Mapped[int] = mapped_column(index=True)


# --- writing, in the committing transaction ---------------------------------


def relays_in_process(platform: Any) -> bool:
    """Whether `platform`'s processes run their own commits' hooks and jobs (not rq)."""
    return bool(getattr(platform.jobs, "relays_in_process", True))


def keep_for(session: Session, platform: Any) -> None:
    """Note the platform whose outbox the session writes (announce and enqueue do,
    so that the commit needs no app context)."""
    session.info["outbox_platform"] = platform


def add_job(session: Session, job: Callable, args: tuple, platform: Any) -> bool:
    """Keep `job(*args)` for the session's outbox row; False (nothing kept) when the
    session is not scoped to one tenant, whose jobs are queued after commit only."""
    tenant_id = session.info.get("tenant_id")
    if not isinstance(tenant_id, int):
        return False
    keep_for(session, platform)
    path = f"{job.__module__}:{job.__qualname__}"
    session.info.setdefault("outbox_jobs", []).append((current_transaction(session), path, args))
    return True


def record(session: Session) -> OutboxRow | None:
    """Add the row of what the session's transaction announced and queued (the
    `before_commit` listener below calls it). Where workers relay it (rq) on psycopg,
    the row is sent with the COMMIT (`_insert_with_commit`) and None is returned."""
    announcements = session.info.get("announcements") or []
    jobs = session.info.get("outbox_jobs") or []
    tenant_id = session.info.get("tenant_id")
    if not (announcements or jobs) or not isinstance(tenant_id, int):
        return None
    if session.new or session.dirty or session.deleted:
        session.flush()  # the records announced get their ids
    body = {
        "a": [[hook, dump(kwargs)] for _t, hook, kwargs in announcements],
        "j": [[path, dump(list(args))] for _t, path, args in jobs],
    }
    text = json.dumps(body, separators=(",", ":"))
    platform = session.info.get("outbox_platform") or current_app.extensions["premia"]
    connection = session.connection()
    if not relays_in_process(platform) and connection.dialect.driver == "psycopg":
        # No id needed (a worker relays it): the row goes out with the COMMIT, in one
        # pipeline (`_insert_with_commit`), not as a round trip of its own.
        session.info.pop("outbox_jobs", None)
        connection._premia_outbox = (tenant_id, utcnow(), text)  # type: ignore[attr-defined]
        return None
    row = OutboxRow(tenant_id=tenant_id, body=text)
    session.add(row)
    if relays_in_process(platform):
        # Deleted first, before the hooks and jobs run here: a row left behind is
        # one whose process died in between (relayed by the scheduler's tick).
        factory = platform.sessions
        session.info.setdefault("after_commit", []).insert(
            0, (session.get_transaction(), lambda: _delete_relayed(factory, tenant_id, row.id))
        )
    session.info.pop("outbox_jobs", None)
    return row


@event.listens_for(Session, "before_commit")
def _record_before_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint's release: the row is written at the outermost commit
    record(session)


# Sent by the driver itself (psycopg's pipeline), hence its placeholders.
_INSERT_SQL = "INSERT INTO outbox (tenant_id, created_at, body) VALUES (%(t)s, %(c)s, %(b)s)"


@event.listens_for(Engine, "commit")
def _insert_with_commit(connection: Connection) -> None:
    """The outbox row `record` left on the committing connection, sent with COMMIT in
    one pipeline: an earn's 4th round trip gone. A failing INSERT fails the commit (the
    pipeline raises at its sync; the transaction is rolled back, the row with it).
    SQLAlchemy's own COMMIT then finds the server idle and sends nothing."""
    pending = connection.__dict__.pop("_premia_outbox", None)
    if pending is None:
        return
    tenant_id, created_at, body = pending
    params = {"t": tenant_id, "c": created_at, "b": body}
    raw = connection.connection.driver_connection
    try:
        with raw.pipeline():
            # A statement like any other to cursor listeners (core.host.driver).
            driver.execute(connection, _INSERT_SQL, params)
            raw.commit()
    except raw.Error as error:  # raised by the pipeline's sync: as SQLAlchemy raises it
        # The pipeline skipped COMMIT after the failed INSERT: the server's transaction
        # is aborted, not ended, and SQLAlchemy (whose commit this was) sends nothing.
        raw.rollback()
        raise DBAPIError.instance(_INSERT_SQL, params, error, type(raw).Error) from error


@event.listens_for(Engine, "rollback")
def _dropped_with_rollback(connection: Connection) -> None:
    # A row left by a commit that never reached its connection (a flush failing after
    # `record`; a session joined to a caller's transaction) goes with the rollback, not
    # into the connection's next commit.
    connection.__dict__.pop("_premia_outbox", None)


def _delete_relayed(factory: Any, tenant_id: int, row_id: int) -> None:
    with tenant_session(factory, tenant_id) as other:
        other.execute(delete(OutboxRow).where(OutboxRow.id == row_id))
        other.commit()


# --- values --------------------------------------------------------------


def dump(value: Any) -> Any:
    """`value` as JSON, records as references to read again (`load`)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Base):
        state = inspect(value)
        if state.identity is None:
            raise TypeError(f"{type(value).__name__} announced before it has an id")
        return {"$m": _path(type(value)), "k": list(state.identity), "s": _snapshot(state)}
    if isinstance(value, Enum):
        return {"$e": _path(type(value)), "v": value.value}
    if isinstance(value, Decimal):
        return {"$d": str(value)}
    if isinstance(value, datetime):
        return {"$t": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, (list, tuple)):
        return [dump(item) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("an announcement's dicts have string keys")
        return {"$o": {key: dump(item) for key, item in value.items()}}
    raise TypeError(f"{type(value).__name__} cannot be kept in the outbox")


def load(value: Any, records: dict[tuple[str, tuple], Any]) -> Any:
    """The value `dump` made, with its records taken from `records` (read by `_read`)."""
    if isinstance(value, list):
        return [load(item, records) for item in value]
    if not isinstance(value, dict):
        return value
    if "$m" in value:
        record = records.get((value["$m"], tuple(value["k"])))
        if record is not None:
            # As it was at the commit, like the hooks run after it saw it (a redemption
            # confirmed since is still "requested" for the announcement of its request).
            for key, kept in value.get("s", {}).items():
                set_committed_value(record, key, load(kept, records))
        return record
    if "$e" in value:
        return _resolve(value["$e"])(value["v"])
    if "$d" in value:
        return Decimal(value["$d"])
    if "$t" in value:
        return datetime.fromisoformat(value["$t"])
    if "$date" in value:
        return date.fromisoformat(value["$date"])
    return {key: load(item, records) for key, item in value["$o"].items()}


def _snapshot(state: Any) -> dict[str, Any]:
    """The record's loaded column values that JSON keeps (`dump`), by attribute."""
    kept = {}
    unloaded = state.unloaded
    values = state.dict
    for key in _column_keys(state.mapper):
        if key in unloaded:
            continue
        value = values.get(key)
        if type(value) in _PLAIN:  # most columns: no call (an earn keeps 30 values)
            kept[key] = value
            continue
        try:
            kept[key] = dump(value)
        except TypeError:
            continue  # a type JSON does not keep: read as it is when relayed
    return kept


_PLAIN = frozenset({str, int, float, bool, type(None)})


@functools.cache
def _column_keys(mapper: Any) -> tuple[str, ...]:
    return tuple(attr.key for attr in mapper.column_attrs)


def _references(value: Any, found: dict[str, set[tuple]]) -> None:
    if isinstance(value, list):
        for item in value:
            _references(item, found)
    elif isinstance(value, dict):
        if "$m" in value:
            found[value["$m"]].add(tuple(value["k"]))
        elif "$o" in value:
            _references(list(value["$o"].values()), found)


def _read(session: Session, bodies: list[dict]) -> dict[tuple[str, tuple], Any]:
    """Every record the bodies refer to, one SELECT per model (a batch of earns reads
    its entries in one statement and its members in another)."""
    found: dict[str, set[tuple]] = defaultdict(set)
    for body in bodies:
        _references([kwargs for _hook, kwargs in body["a"]], found)
    records: dict[tuple[str, tuple], Any] = {}
    for path, keys in found.items():
        model = _resolve(path)
        columns = inspect(model).primary_key
        if len(columns) == 1:
            wanted = [key[0] for key in keys]
            for record in session.scalars(select(model).where(columns[0].in_(wanted))):
                records[(path, tuple(inspect(record).identity))] = record
        else:
            for key in keys:
                records[(path, key)] = session.get(model, key)
    return records


def _path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _resolve(path: str) -> Any:
    module, _colon, name = path.partition(":")
    found: Any = importlib.import_module(module)
    for part in name.split("."):
        found = getattr(found, part)
    return found


# --- relaying ------------------------------------------------------------


def relay(app: Flask, limit: int = BATCH, older_than: float = 0) -> int:
    """Relay up to `limit` rows (of any tenant) not relayed yet, older than
    `older_than` seconds; returns how many. Rows another relay holds are skipped."""
    platform = app.extensions["premia"]
    with app.app_context(), platform_session(platform.sessions) as session:
        query = select(OutboxRow).order_by(OutboxRow.id).limit(limit)
        if older_than:
            query = query.where(OutboxRow.created_at < utcnow() - timedelta(seconds=older_than))
        rows = session.scalars(query.with_for_update(skip_locked=True)).all()
        if not rows:
            session.rollback()
            return 0
        by_tenant: dict[int, list[dict]] = defaultdict(list)
        for row in rows:
            by_tenant[row.tenant_id].append(json.loads(row.body))
        ids = [row.id for row in rows]
        if session.get_bind().dialect.name == "sqlite":
            # SQLite's one writer: the claim's write lock would block the hooks' own
            # sessions. The embedded default relays from one process; the rows are
            # deleted after their hooks ran, at least once as on PostgreSQL.
            session.rollback()
        # The jobs of every row reach Redis in one pipeline, sent before the rows'
        # delete commits: killed in between, they are relayed (and queued) again.
        with platform.jobs.batch():
            for tenant_id, bodies in by_tenant.items():
                _relay_tenant(app, tenant_id, bodies)
        session.execute(
            delete(OutboxRow).where(OutboxRow.id.in_(ids)),
            execution_options={"synchronize_session": False},
        )
        session.commit()
        return len(ids)


def _relay_tenant(app: Flask, tenant_id: int, bodies: list[dict]) -> None:
    """Run one tenant's announcements, in a session scoped to it, for the plugins
    active for it now, each on its own (a failing plugin is logged, as after a
    commit); queue its jobs."""
    platform = app.extensions["premia"]
    with tenant_session(platform.sessions, tenant_id) as session:
        tenant, active = platform.plugins.audience(session, tenant_id)
        if tenant is None:
            return  # gone: its rows are deleted with the batch (they keep no key to it)
        records = _read(session, bodies)
        for body in bodies:
            for hook, kwargs in body["a"]:
                values = load(kwargs, records)
                if any(values[k] is None for k, v in kwargs["$o"].items() if _is_reference(v)):
                    log.info("outbox: %s of tenant %s skipped, its record is gone", hook, tenant_id)
                    continue
                platform.plugins.call(active, hook, tenant=tenant, **values)
            for path, args in body["j"]:
                try:
                    job = _resolve(path)
                except (ImportError, AttributeError):
                    log.exception("outbox: job %s of tenant %s is unknown", path, tenant_id)
                    continue
                platform.jobs.enqueue(job, *load(args, records))
        session.rollback()  # the hooks write in sessions of their own


def _is_reference(value: Any) -> bool:
    return isinstance(value, dict) and "$m" in value


def relay_forever(app: Flask, poll: float = POLL_SECONDS) -> None:
    """A worker's relay loop: rows as they come, batch after batch."""
    while True:
        try:
            if relay(app) >= BATCH:
                continue
        except Exception:
            log.exception("outbox relay failed")
            time.sleep(1)
        time.sleep(poll)


def pending(app: Flask) -> int:
    """Rows not relayed yet (the soak and the operator's health read it)."""
    platform = app.extensions["premia"]
    with app.app_context(), platform_session(platform.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(OutboxRow)) or 0)
