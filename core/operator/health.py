"""The platform's health for the console: the database and Redis, rq's queues, failed
jobs (retry or drop one), live workers and the scheduler's last tick; on the embedded
default (no Redis), the in-process runner's recorded failures."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from rq import Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry
from sqlalchemy import func, select, text

from core.host.db import platform_session
from core.host.errors import NotFound
from core.host.outbox import OutboxRow
from core.host.platform import Platform
from worker.jobs import QUEUES
from worker.runners import InProcessRunner, RqRunner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str  # the time it took, or the error


@dataclass(frozen=True)
class FailedJob:
    id: str
    queue: str
    function: str
    arguments: str
    error: str  # the last line of the traceback
    traceback: str
    failed_at: datetime | None


@dataclass(frozen=True)
class QueueState:
    name: str
    queued: int
    running: int
    scheduled: int  # waiting to be retried or run later
    failed: int


@dataclass(frozen=True)
class WorkerState:
    name: str
    state: str
    queues: tuple[str, ...]
    last_heartbeat: datetime | None


@dataclass
class Health:
    checks: list[Check]
    embedded: bool
    queues: list[QueueState] = field(default_factory=list)
    failed: list[FailedJob] = field(default_factory=list)
    workers: list[WorkerState] = field(default_factory=list)
    last_tick: datetime | None = None
    # Committed announcements and jobs not relayed yet (core/host/outbox.py): a count
    # that grows, or an old oldest, means no worker is relaying.
    outbox_waiting: int = 0
    outbox_oldest: datetime | None = None

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def _timed(name: str, probe: Any) -> Check:
    started = time.perf_counter()
    try:
        probe()
    except Exception as exc:
        log.warning("health: %s: %s", name, exc)
        return Check(name, False, f"{type(exc).__name__}: {exc}"[:300])
    return Check(name, True, f"{(time.perf_counter() - started) * 1000:.1f} ms")


def report(platform: Platform) -> Health:
    """Everything the health page shows, read now."""

    def database() -> None:
        with platform.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    checks = [_timed("database", database)]
    runner = platform.jobs
    if isinstance(runner, RqRunner):
        checks.append(_timed("redis", runner.redis.ping))
        health = Health(checks, embedded=False)
        if checks[-1].ok:
            _read_rq(runner, health)
        if checks[0].ok:
            _read_outbox(platform, health)
        return health
    health = Health(checks, embedded=True)
    if checks[0].ok:
        _read_outbox(platform, health)
    assert isinstance(runner, InProcessRunner)
    health.last_tick = _utc(runner.last_tick)
    health.failed = [
        FailedJob(
            id=str(failure.id),
            queue="",
            function=failure.job,
            arguments=repr(failure.args),
            error=failure.error,
            traceback=failure.error,
            failed_at=_utc(failure.at),
        )
        for failure in reversed(runner.failed)
    ]
    return health


def _read_outbox(platform: Platform, health: Health) -> None:
    with platform_session(platform.sessions) as session:
        waiting, oldest = session.execute(
            select(func.count(), func.min(OutboxRow.created_at)).select_from(OutboxRow)
        ).one()
    health.outbox_waiting = int(waiting or 0)
    health.outbox_oldest = oldest


def _utc(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp else None


def _read_rq(runner: RqRunner, health: Health) -> None:
    for name in QUEUES:
        queue = runner.queue(name)
        failed = FailedJobRegistry(queue=queue)
        health.queues.append(
            QueueState(
                name=name,
                queued=queue.count,
                running=queue.started_job_registry.count,
                scheduled=queue.scheduled_job_registry.count,
                failed=failed.count,
            )
        )
        ids = failed.get_job_ids()
        for job in Job.fetch_many(ids, connection=runner.redis):
            if job is not None:
                health.failed.append(_failed(job, name))
    health.failed.sort(key=lambda j: j.failed_at or datetime.min.replace(tzinfo=UTC), reverse=True)
    for worker in Worker.all(connection=runner.redis):
        heartbeat = worker.last_heartbeat
        health.workers.append(
            WorkerState(
                name=worker.name,
                state=str(worker.get_state()),
                queues=tuple(worker.queue_names()),
                last_heartbeat=heartbeat.replace(tzinfo=UTC)
                if heartbeat and heartbeat.tzinfo is None
                else heartbeat,
            )
        )
    health.last_tick = _utc(runner.last_tick())


def _failed(job: Job, queue: str) -> FailedJob:
    result = job.latest_result()
    trace = (result.exc_string if result is not None else None) or job.exc_info or ""
    lines = [line for line in trace.strip().splitlines() if line.strip()]
    ended = job.ended_at
    return FailedJob(
        id=job.id,
        queue=queue,
        function=job.func_name,
        arguments=", ".join(repr(a) for a in job.args),
        error=lines[-1] if lines else "",
        traceback=trace,
        failed_at=ended.replace(tzinfo=UTC) if ended and ended.tzinfo is None else ended,
    )


def _find(runner: InProcessRunner | RqRunner, job_id: str) -> tuple[FailedJobRegistry, Job]:
    """The failed job of this id (in any queue's failed registry)."""
    if isinstance(runner, RqRunner):
        for name in QUEUES:
            registry = FailedJobRegistry(queue=runner.queue(name))
            if job_id in registry.get_job_ids():
                try:
                    return registry, Job.fetch(job_id, connection=runner.redis)
                except NoSuchJobError:
                    break
    raise NotFound(_l("This failed job is no longer there."))


def describe(runner: InProcessRunner | RqRunner, job_id: str) -> str:
    """What a failed job is, for the audit log."""
    if isinstance(runner, InProcessRunner):
        failure = runner.failure(job_id)
        if failure is None:
            raise NotFound(_l("This failed job is no longer there."))
        return failure.job
    return _find(runner, job_id)[1].func_name


def retry(runner: InProcessRunner | RqRunner, job_id: str) -> None:
    """Queue a failed job again (embedded: run it again now)."""
    if isinstance(runner, InProcessRunner):
        if not runner.retry(job_id):
            raise NotFound(_l("This failed job is no longer there."))
        return
    registry, job = _find(runner, job_id)
    registry.requeue(job)


def drop(runner: InProcessRunner | RqRunner, job_id: str) -> None:
    """Forget a failed job for good."""
    if isinstance(runner, InProcessRunner):
        if not runner.forget(job_id):
            raise NotFound(_l("This failed job is no longer there."))
        return
    registry, job = _find(runner, job_id)
    registry.remove(job, delete_job=True)
