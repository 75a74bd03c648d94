"""Where jobs run: rq on Redis in production, in-process on the embedded default.

Both runners have one interface. rq's own `Queue(is_async=False)` would
swallow failures and ignore scheduling, so the embedded runner is our own: it
runs a job right away (after the commit that queued it), logs and raises its
failure, and keeps periodic jobs to run when they are due.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, NamedTuple

from redis import Redis
from rq import Queue, Retry
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from core.host import outbox
from core.host.contributions import PeriodicJob
from worker.jobs import QUEUES

log = logging.getLogger(__name__)

# Where the rq scheduler notes its last tick (the operator console's health page reads it).
TICK_KEY = "premia:scheduler:last_tick"


class Failure(NamedTuple):
    """A job that failed in-process: what it was, its error, when (listed by the operator
    console, which may run it again or forget it)."""

    job: str
    args: tuple
    error: str
    at: float = 0.0
    id: int = 0
    func: Callable | None = None


class InProcessRunner:
    """Runs jobs in this process. `raise_errors` (tests) re-raises a job's failure to
    the code that committed; otherwise it is logged, as a worker would, and kept in
    `failed` so that the platform's health shows it."""

    # The committing process runs its own announcements and jobs (core.host.outbox).
    relays_in_process = True

    def __init__(self, raise_errors: bool = False) -> None:
        self.raise_errors = raise_errors
        self.failed: deque[Failure] = deque(maxlen=100)  # the latest
        self.last_tick: float | None = None  # the embedded scheduler's
        self._ids = itertools.count(1)
        self.periodic: list[PeriodicJob] = []
        self._last_run: dict[str, float] = {}
        self._lock = threading.Lock()
        self._scheduler: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def batch(self) -> AbstractContextManager[None]:
        """Jobs run as they are queued here: nothing to gather (see `RqRunner.batch`)."""
        return nullcontext()

    def enqueue(self, job: Callable, *args: Any) -> Any:
        try:
            return job(*args)
        except Exception as exc:
            log.exception("job %s%r failed", job.__name__, args)
            self._record(job.__name__, args, exc, job)
            if self.raise_errors:
                raise
            return None

    def _record(self, name: str, args: tuple, exc: Exception, func: Callable | None) -> None:
        self.failed.append(Failure(name, args, repr(exc), time.time(), next(self._ids), func))

    def failure(self, failure_id: int | str) -> Failure | None:
        return next((f for f in self.failed if str(f.id) == str(failure_id)), None)

    def forget(self, failure_id: int | str) -> bool:
        """Drop a recorded failure; False when it is not (or no longer) there."""
        failure = self.failure(failure_id)
        if failure is None:
            return False
        self.failed.remove(failure)
        return True

    def retry(self, failure_id: int | str) -> bool:
        """Run a failed job again now; a new failure is recorded if it fails again."""
        failure = self.failure(failure_id)
        if failure is None or failure.func is None:
            return False
        self.failed.remove(failure)
        try:
            failure.func(*failure.args)
        except Exception as exc:
            log.exception("job %s%r failed again", failure.job, failure.args)
            self._record(failure.job, failure.args, exc, failure.func)
        return True

    def run_due(self, now: float | None = None) -> list[str]:
        """Run the periodic jobs that are due; the embedded scheduler calls this."""
        now = time.time() if now is None else now
        ran = []
        with self._lock:
            self.last_tick = now
            for job in self.periodic:
                last = self._last_run.get(job.name)
                if last is not None and now - last < job.every:
                    continue
                self._last_run[job.name] = now
                try:
                    job.func()
                except Exception as exc:
                    log.exception("periodic job %s failed", job.name)
                    self._record(job.name, (), exc, job.func)
                ran.append(job.name)
        return ran

    def start_scheduler(self, app: Any, tick: float = 30.0) -> threading.Thread:
        """Run periodic jobs in a daemon thread of this process (once per process)."""
        if self._scheduler is not None:  # every request asks: answer without waiting
            return self._scheduler
        with self._start_lock:
            if self._scheduler is not None:
                return self._scheduler

            def loop() -> None:
                while True:
                    with app.app_context():
                        self.run_due()
                    try:  # what a process killed after its commit left undone
                        outbox.relay(app, older_than=outbox.STALE_SECONDS)
                    except Exception:
                        log.exception("outbox relay failed")
                    time.sleep(tick)

            self._scheduler = threading.Thread(target=loop, name="premia-scheduler", daemon=True)
            self._scheduler.start()
            return self._scheduler

    def ping(self) -> bool:
        return True


# How often rq's own upkeep runs in `premia worker` (its default is ten minutes): it is what
# lets a live worker take over the scheduler of one that died (its lock lapses after 61 s),
# and the scheduler is what queues a retry again.
MAINTENANCE_INTERVAL = 60

# The bulk queue's jobs (an import, a push to every device, a sheet of coupons) run for
# minutes by design; rq's default 180 s would kill them halfway, again at each retry. A
# webhook delivery is one request of a few seconds: a receiver that drips its answer
# byte by byte is cut off well before it holds a worker for minutes.
JOB_TIMEOUTS = {"bulk": 3600, "webhooks": 60}


class RqRunner:
    # Web processes leave their commits' announcements and jobs in the outbox; the
    # `premia worker` processes relay them (`start_relay`).
    relays_in_process = False

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.periodic: list[PeriodicJob] = []
        self._queues: dict[str, Queue] = {}
        self._batch = threading.local()

    def queue(self, name: str) -> Queue:
        # Kept: a new Queue asks the server its version again before its first job.
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = Queue(name, connection=self.redis)
        return queue

    def enqueue(self, job: Callable, *args: Any) -> Any:
        name = getattr(job, "queue", "default")
        queue = self.queue(name)
        batch = getattr(self._batch, "pipeline", None)
        # One round trip to Redis per job (rq alone makes two transactions of it), or
        # none of its own inside `batch()`: an earn queues a points e-mail, a push and a
        # referral check.
        with nullcontext(batch) if batch is not None else self.redis.pipeline() as pipeline:
            queued = queue.enqueue(
                job,
                *args,
                retry=Retry(max=3, interval=[10, 60, 300]),
                result_ttl=3600,
                job_timeout=JOB_TIMEOUTS.get(name),  # None: rq's default (180 s)
                pipeline=pipeline,
            )
            if batch is None:
                pipeline.execute()
        return queued

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Jobs queued inside (by this thread) reach Redis together, in one round trip
        when the block ends; a batch inside a batch joins it."""
        if getattr(self._batch, "pipeline", None) is not None:
            yield
            return
        with self.redis.pipeline() as pipeline:
            self._batch.pipeline = pipeline
            try:
                yield
            finally:
                self._batch.pipeline = None
                # Sent even when the block failed half-way: the jobs queued before the
                # failure belong to committed work (see `core.host.events`).
                pipeline.execute()

    def enqueue_due_periodic(self, now: float | None = None) -> list[str]:
        """Queue the periodic jobs that are due, once across every worker process."""
        now = time.time() if now is None else now
        queued = []
        self.redis.set(TICK_KEY, repr(now))
        for job in self.periodic:
            # One slot per interval: whichever worker takes it first queues the job.
            slot = int(now // job.every)
            key = f"premia:periodic:{job.name}:{slot}"
            if self.redis.set(key, "1", nx=True, ex=job.every * 2):
                self.queue(job.queue).enqueue(job.func, result_ttl=3600)
                queued.append(job.name)
        return queued

    def recover_abandoned(self, now: float | None = None) -> list[str]:
        """Retry the jobs whose worker died mid-job (SIGKILL, the OOM killer, a lost machine).

        rq leaves such a job "started" until its worker's heartbeat lapses (about 90 s after
        the last one) and a worker cleans its registries, every ten minutes by default; then
        a job with retries left (all of `enqueue`'s) is retried, others go to the failed
        registry. Every scheduler tick does that cleaning here, under rq's own lock so two
        workers never retry one job twice. Jobs are idempotent, so a retried one redoes
        nothing already committed. A job whose worker died between taking it and starting
        it (rq would drop it: it was never marked started) is queued again. Returns the
        ids of the jobs queued again, retried or failed."""
        recovered: list[str] = []
        for queue in self.queues():
            if not queue.acquire_maintenance_lock():
                continue  # another worker is cleaning this queue right now
            try:
                registry = StartedJobRegistry(queue=queue)
                expired = Job.fetch_many(registry.get_expired_job_ids(now), self.redis)
                for job in expired:
                    # Killed after taking the job, before its work horse marked it started:
                    # rq's cleanup drops such an entry, and the job is then in no queue.
                    if (
                        job is not None
                        and job.get_status(refresh=False) == JobStatus.QUEUED
                        and self.redis.lpos(queue.key, job.id) is None
                    ):
                        queue.enqueue_job(job, at_front=True)
                        recovered.append(job.id)
                recovered += [
                    job.id
                    for job in expired
                    if job is not None and job.get_status(refresh=False) == JobStatus.STARTED
                ]
                registry.cleanup(timestamp=now)
            finally:
                queue.release_maintenance_lock()
        if recovered:
            log.warning("jobs of a worker that died, retried: %s", ", ".join(recovered))
        return recovered

    def start_scheduler(self, app: Any = None, tick: float = 30.0) -> threading.Thread:
        def loop() -> None:
            while True:
                try:
                    self.enqueue_due_periodic()
                except Exception:
                    log.exception("periodic scheduling failed")
                try:
                    self.recover_abandoned()
                except Exception:
                    log.exception("recovering abandoned jobs failed")
                time.sleep(tick)

        thread = threading.Thread(target=loop, name="premia-periodic", daemon=True)
        thread.start()
        return thread

    def start_relay(self, app: Any) -> threading.Thread:
        """Relay the outbox (core.host.outbox) in a daemon thread of this worker."""
        thread = threading.Thread(
            target=outbox.relay_forever, args=(app,), name="premia-outbox", daemon=True
        )
        thread.start()
        return thread

    def last_tick(self) -> float | None:
        """When a scheduler (of any worker) last looked for due periodic jobs."""
        value = self.redis.get(TICK_KEY)
        return float(value) if value else None

    def queues(self) -> list[Queue]:
        return [self.queue(name) for name in QUEUES]

    def ping(self) -> bool:
        return bool(self.redis.ping())
