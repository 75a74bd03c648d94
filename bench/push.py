"""Benchmark of a push campaign's fan-out: a send to `--devices` devices (100,000) of as
many members, through firebase-admin against bench/fake_fcm.py (FCM's HTTP v1 + OAuth2
token endpoint, in a process of its own), with jobs on Redis and `--workers` (2) rq
workers as in production (`premia worker`).

    python bench/push.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_push \\
        --redis-url redis://127.0.0.1:6379/5

Creates (or empties) the database and fills it: one white-label merchant, a member made
through the services, cloned in SQL to `--devices` members with one device each. Then,
in the same run:

  fake      the fake FCM alone, asked by a bare keep-alive client with messages of the
            campaign's size, a token each: it must answer far faster than anything
            measured below
  baseline  firebase-admin alone: `send_each` of the same number of messages in batches
            of 500, from `--workers` processes (one per worker, the client made as the
            workers make it): no database, no jobs
  push      the campaign as the panel starts it: the start job writes a delivery per
            device and queues a job per batch of 500; the workers send and record

Each line ends with what the fake did meanwhile: its CPU seconds (it is one process,
one thread: at 1 s of its CPU per 1 s of the clock it is the bottleneck) and the
connections it accepted.

Prints each one's seconds and messages a second, the CPU seconds the baseline's processes
and the campaign's workers and job processes used (the figure that holds on a loaded
machine), the start job's seconds, the campaign's time and CPU as multiples of the
baseline's, and the peak resident memory (VmHWM) of the
workers and of the largest job process they forked (rq forks one per job), after a send
to a tenth of the devices and after the full one (fresh workers each time): flat memory
means the two peaks are close. Figures go in docs/benchmarks.md. `--profile DIR` writes
a cProfile of each batch job to DIR (it slows them: not for the figures); `--per-job N`
makes each job send N batches of 500 (1: a job per batch, as before PER_JOB).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from redis import Redis  # noqa: E402

from bench import fake_fcm  # noqa: E402
from bench.api import fresh_database, libpq  # noqa: E402
from core.app import create_app  # noqa: E402
from core.host.actors import Actor  # noqa: E402
from core.host.db import platform_session, tenant_session  # noqa: E402
from core.host.migrate import upgrade  # noqa: E402
from core.loyalty.customers import create_member  # noqa: E402
from tenants.services import create_tenant  # noqa: E402


def fill(url: str, devices: int) -> int:
    app = create_app({"PREMIA_DATABASE_URL": url, "PREMIA_REDIS_URL": None})
    with app.app_context():
        upgrade(app)
        sessions = app.extensions["premia"].sessions
        with platform_session(sessions) as session:
            tenant = create_tenant(
                session,
                slug="bench",
                name="Bench",
                plan="white-label",
                currency="COP",
                country="CO",
                timezone="America/Bogota",
                owner_email="owner@bench.example",
                owner_password="correct horse battery staple 42",
            )
            session.commit()
            tenant_id = tenant.id
        with tenant_session(sessions, tenant_id) as session:
            member = create_member(
                session, email="model@bench.example", first_name="Ana", actor=Actor.system()
            )
            session.commit()
            model_customer, model_member = member.customer_id, member.id
    app.extensions["premia"].engine.dispose()
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(
            """
            INSERT INTO customers (email, first_name, last_name, created_at, mail_preferences)
            SELECT 'p' || n || '@bench.example', first_name, last_name, created_at, '{}'
            FROM customers, generate_series(1, %s) AS n WHERE id = %s
            """,
            (devices - 1, model_customer),
        )
        conn.execute(
            """
            INSERT INTO memberships (customer_id, code, balance, search_text, joined_via,
                                     created_at, tenant_id, first_name, last_name)
            SELECT c.id, 'B' || lpad(c.id::text, 12, '0'), 100, m.search_text, m.joined_via,
                   m.created_at, m.tenant_id, m.first_name, m.last_name
            FROM customers c, memberships m
            WHERE m.id = %s AND c.email LIKE 'p%%@bench.example'
            """,
            (model_member,),
        )
        conn.execute(
            """
            INSERT INTO push_devices (member_id, token, user_agent, created_at, seen_at, tenant_id)
            SELECT id, 'tok-' || id || '-' || repeat('x', 140), 'bench', now(), now(), tenant_id
            FROM memberships WHERE tenant_id = %s
            """,
            (tenant_id,),
        )
        conn.execute("VACUUM (ANALYZE)")
    return tenant_id


def environment(args, key: Path, fcm_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "PREMIA_DATABASE_URL": args.database_url,
        "PREMIA_REDIS_URL": args.redis_url,
        "PREMIA_FIREBASE_CREDENTIALS": str(key),
        "BENCH_FCM_URL": fcm_url,
        "PYTHONPATH": str(ROOT),
    }


def run_worker() -> None:
    """`premia worker`, with firebase-admin pointed at the fake FCM; at exit, writes the
    peak memory of the job processes it forked (the largest) to BENCH_MEMORY/<pid>."""
    import atexit
    import resource

    def note() -> None:
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB
        (Path(os.environ["BENCH_MEMORY"]) / str(os.getpid())).write_text(str(children))

    atexit.register(note)

    def cpu(_signum, _frame) -> None:
        # The CPU seconds of this worker and of the job processes it forked (and waited
        # for) so far: the bench asks before the campaign and after it.
        mine = resource.getrusage(resource.RUSAGE_SELF)
        jobs = resource.getrusage(resource.RUSAGE_CHILDREN)
        total = mine.ru_utime + mine.ru_stime + jobs.ru_utime + jobs.ru_stime
        (Path(os.environ["BENCH_MEMORY"]) / f"cpu-{os.getpid()}").write_text(repr(total))

    signal.signal(signal.SIGUSR2, cpu)
    if os.environ.get("BENCH_PROFILE"):
        _profile_batches(Path(os.environ["BENCH_PROFILE"]))
    if os.environ.get("BENCH_PER_JOB"):  # the start job runs here too: it queues so
        from plugins.push import jobs

        jobs.PER_JOB = int(os.environ["BENCH_PER_JOB"])
    fake_fcm.run_worker()


def _profile_batches(folder: Path) -> None:
    """cProfile each batch job (in its forked process) to folder/<pid>.prof."""
    import cProfile
    import functools

    from plugins.push import jobs

    real = jobs.send_batch

    @functools.wraps(real)  # queued by its name, plugins.push.jobs.send_batch
    def profiled(*args):
        profile = cProfile.Profile()
        try:
            return profile.runcall(real, *args)
        finally:
            profile.dump_stats(folder / f"{os.getpid()}.prof")

    profiled.queue = real.queue
    jobs.send_batch = profiled


def _worker_cpu(memory: Path, workers: list) -> float:
    """The CPU seconds the workers and their job processes have used so far."""
    for w in workers:
        (memory / f"cpu-{w.pid}").unlink(missing_ok=True)
        w.send_signal(signal.SIGUSR2)
    total = 0.0
    for w in workers:
        path = memory / f"cpu-{w.pid}"
        while not path.exists() or not path.read_text():
            time.sleep(0.02)
        total += float(path.read_text())
    return total


def peak_memory(pid: int) -> int:
    """VmHWM (KiB) of a worker process itself (its job processes: see run_worker)."""
    total = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            total = int(line.split()[1])
    return total


def campaign(args, env: dict[str, str], tenant_id: int, devices: int) -> dict:
    """Start a send to `devices` devices (the first ones) and wait for its last delivery."""
    redis = Redis.from_url(args.redis_url)
    redis.flushdb()
    memory = Path(tempfile.mkdtemp(prefix="bench-push-memory-"))
    workers = [
        subprocess.Popen(
            [sys.executable, __file__, "--as-worker"], env={**env, "BENCH_MEMORY": str(memory)}
        )
        for _ in range(args.workers)
    ]
    app = create_app({"PREMIA_DATABASE_URL": args.database_url, "PREMIA_REDIS_URL": args.redis_url})
    try:
        with app.app_context():
            from plugins.push import jobs, sends
            from plugins.push.models import Send

            sessions = app.extensions["premia"].sessions
            with tenant_session(sessions, tenant_id) as session:
                from core.sdk import Tenant

                tenant = session.get(Tenant, tenant_id)
                draft = sends.Draft("Bench", "Hola", audience={"min_balance": 100})
                send = sends.create(session, tenant, draft, None)
                session.commit()
                send_id = send.id
            with psycopg.connect(libpq(args.database_url), autocommit=True) as conn:
                # A tenth of the devices: the others are beyond this send's audience.
                conn.execute(
                    "UPDATE memberships SET balance = CASE WHEN id <= "
                    "(SELECT min(id) FROM memberships WHERE tenant_id = %s) + %s - 1 "
                    "THEN 100 ELSE 0 END WHERE tenant_id = %s",
                    (tenant_id, devices, tenant_id),
                )
            _wait_idle(redis, args.workers)
            cpu_before = _worker_cpu(memory, workers)
            started = time.perf_counter()
            from core.sdk import enqueue

            enqueue(None, jobs.start_send, tenant_id, send_id)
            while True:
                time.sleep(0.2)
                with tenant_session(sessions, tenant_id) as session:
                    send = session.get(Send, send_id)
                    if send.status == "done":
                        report = sends.report(session, send)
                        break
            seconds = time.perf_counter() - started
            _wait_idle(redis, args.workers)  # the last job process reaped, its CPU counted
            cpu = _worker_cpu(memory, workers) - cpu_before
            start_seconds = _start_job_seconds(redis)
    finally:
        peaks = [peak_memory(w.pid) for w in workers]
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait()
        app.extensions["premia"].engine.dispose()
    forked = [int((memory / str(w.pid)).read_text()) for w in workers]
    return {
        "seconds": seconds,
        "cpu": cpu,
        "start": start_seconds,
        "report": report,
        "peaks_mib": [p / 1024 for p in peaks],
        "jobs_mib": max(forked) / 1024,
    }


def _wait_idle(redis: Redis, workers: int) -> None:
    """Until the workers are up and done with the periodic jobs a fresh Redis makes due
    at once (the day's expiry, figures…), so that the clock measures the campaign."""
    from rq import Queue, Worker

    from worker.jobs import QUEUES

    quiet = 0
    while quiet < 5:
        time.sleep(0.2)
        found = Worker.all(connection=redis)
        idle = len(found) == workers and all(w.get_state() == "idle" for w in found)
        empty = all(Queue(name, connection=redis).count == 0 for name in QUEUES)
        quiet = quiet + 1 if idle and empty else 0


def _start_job_seconds(redis: Redis) -> float:
    """How long the start job ran (writing the deliveries, queueing the batches)."""
    from rq.job import Job
    from rq.registry import FinishedJobRegistry

    ids = FinishedJobRegistry("bulk", connection=redis).get_job_ids()
    for job in Job.fetch_many(ids, connection=redis):
        if job is not None and job.func_name.endswith("start_send"):
            return (job.ended_at - job.started_at).total_seconds()
    return float("nan")


def fake_alone(port: int, messages: int, connections: int = 100) -> float:
    """Seconds the fake FCM takes to answer `messages` requests of a campaign's size,
    each to a token of its own (as the campaign's), from a bare asyncio client
    (keep-alive, `connections` at once): no firebase-admin."""
    import asyncio
    import json

    body = json.dumps(
        {
            "message": {
                "token": "alone-%d-" + "x" * 140,
                "data": {"title": "Bench", "body": "Hola", "send": "1"},
                "webpush": {"headers": {"Urgency": "high", "TTL": "86400"}},
            }
        }
    ).encode()

    def request(n: int) -> bytes:
        data = body % n
        return (
            b"POST /v1/projects/premia-test/messages:send HTTP/1.1\r\nHost: fcm\r\n"
            b"Authorization: Bearer fake\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(data), data)
        )

    async def connection(first: int, count: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for n in range(first, first + count):
            writer.write(request(n))
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
        writer.close()

    async def run() -> None:
        share = messages // connections
        await asyncio.gather(*(connection(c * share, share) for c in range(connections)))

    started = time.perf_counter()
    asyncio.run(run())
    return time.perf_counter() - started


def _baseline_part(key: str, fcm_url: str, first: int, count: int, ready, done) -> None:
    import warnings

    from firebase_admin import messaging

    from plugins.push import firebase
    from tests.plugins.push.fake_fcm import point_firebase_admin_at

    point_firebase_admin_at(fcm_url)
    fb = firebase.app_for(key)  # the client as the workers make it
    content = {"title": "Bench", "body": "Hola", "send": "0"}
    ready.wait()
    cpu = time.process_time()
    sent = 0
    for start in range(first, first + count, 500):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            batch = [
                firebase.message(f"tok-{n}-" + "x" * 140, content)
                for n in range(start, min(start + 500, first + count))
            ]
        sent += messaging.send_each(batch, app=fb).success_count
    done.put((sent, time.process_time() - cpu))


def baseline(key: Path, fcm_url: str, devices: int, processes: int) -> tuple[float, float]:
    """Seconds for `processes` processes (one per worker) to send `devices` messages
    between them with `send_each`, in batches of 500, once each has its client; and
    the CPU seconds they used doing it."""
    ready = multiprocessing.Barrier(processes + 1)
    done = multiprocessing.Queue()
    share = -(-devices // processes)
    parts = [
        multiprocessing.Process(
            target=_baseline_part,
            args=(str(key), fcm_url, n * share, min(share, devices - n * share), ready, done),
        )
        for n in range(processes)
    ]
    for part in parts:
        part.start()
    ready.wait()
    started = time.perf_counter()
    answers = [done.get() for _ in parts]
    seconds = time.perf_counter() - started
    for part in parts:
        part.join()
    sent = sum(n for n, _cpu in answers)
    assert sent == devices, sent
    return seconds, sum(cpu for _n, cpu in answers)


def _fake_used(fcm_url: str, before: dict) -> str:
    """What the fake FCM did since `before`: its CPU seconds, the connections it accepted
    (firebase-admin's pool throwing connections away shows as many more than the
    processes' pools hold), the messages it answered."""
    now = fake_fcm.stats(fcm_url)
    return (
        f"[fake: CPU {now['cpu'] - before['cpu']:.1f} s, "
        f"{now['connections'] - before['connections']} connections, "
        f"{now['messages'] - before['messages']} messages]"
    )


def main() -> None:
    if "--as-worker" in sys.argv:
        sys.argv = [sys.argv[0]]
        run_worker()
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile", help="a folder: cProfile each batch job there")
    parser.add_argument(
        "--per-job", type=int, help="batches of 500 a job sends (plugins.push.jobs.PER_JOB)"
    )
    args = parser.parse_args()

    fake, fcm_url, key = fake_fcm.start(Path(tempfile.mkdtemp(prefix="bench-push-")))

    fresh_database(args.database_url)
    print(f"filling {args.devices} members and devices…", flush=True)
    tenant_id = fill(args.database_url, args.devices)
    env = environment(args, key, fcm_url)
    if args.per_job:
        env["BENCH_PER_JOB"] = str(args.per_job)
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        env["BENCH_PROFILE"] = str(Path(args.profile).resolve())

    port = int(fcm_url.rsplit(":", 1)[1])
    before = fake_fcm.stats(fcm_url)
    alone = fake_alone(port, args.devices)
    print(
        f"fake      {alone:7.1f} s  {args.devices / alone:8.0f} msg/s  (a bare client)  "
        f"{_fake_used(fcm_url, before)}",
        flush=True,
    )
    before = fake_fcm.stats(fcm_url)
    base, base_cpu = baseline(key, fcm_url, args.devices, args.workers)
    print(
        f"baseline  {base:7.1f} s  {args.devices / base:8.0f} msg/s  CPU {base_cpu:.1f} s  "
        f"(send_each alone)  {_fake_used(fcm_url, before)}",
        flush=True,
    )
    for share, label in ((10, "push 1/10"), (1, "push     ")):
        devices = args.devices // share
        before = fake_fcm.stats(fcm_url)
        run = campaign(args, env, tenant_id, devices)
        print(
            f"{label} {run['seconds']:7.1f} s  {devices / run['seconds']:8.0f} msg/s  "
            f"CPU {run['cpu']:.1f} s  start job {run['start']:.1f} s  {run['report']}  workers "
            f"{', '.join(f'{p:.0f}' for p in run['peaks_mib'])} MiB, "
            f"job processes {run['jobs_mib']:.0f} MiB  {_fake_used(fcm_url, before)}",
            flush=True,
        )
    print(
        f"ratio     {run['seconds'] / base:7.2f} × the baseline's time, "
        f"{run['cpu'] / base_cpu:.2f} × its CPU (workers and job processes; os.getloadavg "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())})"
    )
    fake.terminate()


if __name__ == "__main__":
    main()
