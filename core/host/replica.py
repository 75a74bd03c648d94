"""Reads on a streaming replica: the pages that only show figures read from a copy of
the database, so they take no work from the primary.

`PREMIA_DATABASE_REPLICA_URL` names a PostgreSQL hot standby of the primary. Inicio,
Actividad, the exports, the customer app's history and the reports open their session
with `reading_session` (or, in a request, `core.web.request.reading_db`): a session on
the replica scoped to one tenant exactly like `tenant_session`'s (the same
`do_orm_execute` filter of core/host/db.py), which never writes. Every write, and
every read that decides one (a balance under lock, an idempotency key), stays on the
primary's sessions: nothing but those views asks for a reading session.

A replica that does not answer within a short connect timeout is left alone for a
while and the primary serves the page; a replica that lags says so: the session's
`Freshness` tells how old its figures are, and pages show it past a few seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from core.host.db import make_engine, make_sessionmaker, scope, tenant_session

log = logging.getLogger(__name__)

READING = "premia_reading"  # the session.info key of a replica session
APPLICATION_NAME = "premia-reads"  # how the replica's pg_stat_activity names our reads

# How far behind the replica is, asked on the connection the page then reads from.
# Caught up with what it received (replay == receive): nothing is waiting, however long
# ago the last transaction was (an idle primary writes nothing); else the age of the
# last transaction replayed. Off a standby (not in recovery) the figures are current.
FRESHNESS = text(
    "SELECT pg_is_in_recovery(), pg_last_xact_replay_timestamp(),"
    " CASE WHEN NOT pg_is_in_recovery()"
    "   OR pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0"
    "  ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END"
)


class ReplicaWriteError(RuntimeError):
    """Something tried to write through a session on the replica."""


@dataclass(frozen=True)
class Freshness:
    """How current a replica session's figures are."""

    in_recovery: bool
    lag: float  # seconds of the primary's transactions not replayed yet
    as_of: datetime | None  # commit time of the last transaction replayed


@dataclass
class Replica:
    """The replica's engine and sessions, and whether it answered lately."""

    engine: Engine
    sessions: sessionmaker[Session]
    notice_after: float  # lag (seconds) from which a page says how fresh it is
    retry_after: float  # seconds a replica that failed is left alone
    down_until: float = field(default=0.0)  # time.monotonic() before which it is not tried

    def open(self, tenant_id: int) -> Session | None:
        """A session on the replica scoped to `tenant_id`, its `Freshness` in
        `session.info[READING]`; None when the replica is down (then it is left
        alone for `retry_after` seconds, so no page waits on it meanwhile)."""
        if time.monotonic() < self.down_until:
            return None
        session = self.sessions()
        scope(session, tenant_id)
        try:
            in_recovery, as_of, lag = session.execute(FRESHNESS).one()
        except (DBAPIError, PoolTimeout) as error:
            session.close()
            self.down_until = time.monotonic() + self.retry_after
            log.warning("replica unavailable, reading from the primary: %s", error)
            return None
        session.info[READING] = Freshness(bool(in_recovery), float(lag), as_of)
        return session

    def lagging(self, freshness: Freshness) -> bool:
        return freshness.lag > self.notice_after


def make_replica(config: dict[str, Any]) -> Replica | None:
    """The replica the configuration names, or None (every read on the primary)."""
    url = config.get("PREMIA_DATABASE_REPLICA_URL")
    if not url:
        return None
    if not url.startswith("postgresql"):
        raise ValueError("PREMIA_DATABASE_REPLICA_URL must name a PostgreSQL streaming replica")
    timeout = config.get("PREMIA_REPLICA_CONNECT_TIMEOUT", 2)
    # A replica that does not answer must not hold a page: libpq's connect timeout is in
    # whole seconds, 2 at least.
    engine = make_engine(
        url,
        connect_args={
            "connect_timeout": max(int(timeout), 2),
            "application_name": APPLICATION_NAME,
        },
        pool_timeout=timeout,
    )
    return Replica(
        engine=engine,
        sessions=make_sessionmaker(engine),
        notice_after=float(config.get("PREMIA_REPLICA_NOTICE_SECONDS", 5)),
        retry_after=float(config.get("PREMIA_REPLICA_RETRY_SECONDS", 30)),
    )


@contextmanager
def reading_session(
    replica: Replica | None, primary: sessionmaker[Session], tenant_id: int
) -> Iterator[Session]:
    """A session that reads only `tenant_id`'s rows: on the replica when there is one
    and it answers, else on the primary (`tenant_session`). For reads that decide no
    write; a write through it on the replica raises `ReplicaWriteError`."""
    session = replica.open(tenant_id) if replica is not None else None
    if session is None:
        with tenant_session(primary, tenant_id) as session:
            yield session
        return
    try:
        yield session
    finally:
        session.close()


def freshness(session: Session) -> Freshness | None:
    """The replica session's freshness; None for a session on the primary."""
    return session.info.get(READING)


@event.listens_for(Session, "before_flush")
def _refuse_writes(session: Session, _context: Any, _instances: Any) -> None:
    # The standby would refuse it too ("read-only transaction"); this says why, earlier.
    if READING in session.info and (session.new or session.dirty or session.deleted):
        raise ReplicaWriteError("a session on the replica never writes: use the primary's")
