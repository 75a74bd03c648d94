"""Soak: many web and worker processes under mixed load, one of each killed mid-run;
at the end, nothing lost and nothing done twice.

    python bench/soak.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_soak \\
        --redis-url redis://127.0.0.1:6379/10 --seconds 180

Creates (or empties) the database and migrates it; one white-label merchant (1 point
per 1,000 COP) with `--customers` members holding an opening balance (bench/api.py's
way, through the services), a reward, an API token, a customer app session for each of
the first 50 (as the sign-in page opens one), and `--devices` more members with a push
device each (bench/push.py's way, cloned in SQL). Starts an SMTP sink and a fake FCM
(both count what they receive, per recipient and per device token), gunicorn with 4
sync workers as the README runs it, and 3 `premia worker` processes, all on one
PostgreSQL and one Redis. Then for `--seconds`, `--clients` client processes send:

  earn      POST /api/v1/customers/{code}/points {"amount": "45000"}, any member
  redeem    POST /api/v1/customers/{code}/redemptions, one of 5 members (they race)
  app       GET the customer app's home or the merchant's history, signed in

every POST with its Idempotency-Key; a request that fails (connection refused or
reset, a 5xx) is sent again, the same key and body, until it is answered. In the
background a CSV import of `--import-rows` customers (uploaded as the panel does:
saved in the upload folder, `importing.accept`, `start`, the job queued on commit)
and a push send to every device. At 30 % of the run one gunicorn worker is SIGKILLed
(gunicorn's arbiter starts another); once the import's job is running, the rq worker
running it is SIGKILLed with its work horse and started again. After the run it
waits for the queues to empty (the killed job is retried once its heartbeat lapses:
`RqRunner.recover_abandoned`), then checks and prints: every key has exactly one
entry (earns) or redemption and entry (redemptions); every balance equals the sum of
its entries and of its lots' remaining points; the import created each valid row
once and gave its points once; each push delivery reached FCM once; every earn and
redemption has its e-mail recorded once, and the SMTP sink got exactly as many
messages per recipient as were recorded; then requests, throughput and p99 (a
request's time includes its retries) per minute. Exits 1 when a check fails.
Figures go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import http.client
import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from email.parser import BytesParser
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402
from flask import g  # noqa: E402
from redis import Redis  # noqa: E402
from rq import Worker  # noqa: E402
from rq.registry import ScheduledJobRegistry, StartedJobRegistry  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bench import fake_fcm  # noqa: E402
from bench.api import fresh_database, libpq, start_gunicorn, stop_gunicorn  # noqa: E402
from bench.csv_import import write_customers  # noqa: E402
from core.app import create_app  # noqa: E402
from core.customer_app.sessions import COOKIE, log_in  # noqa: E402
from core.host.actors import Actor  # noqa: E402
from core.host.db import platform_session, tenant_session  # noqa: E402
from core.host.migrate import upgrade  # noqa: E402
from core.loyalty.customers import create_member  # noqa: E402
from core.loyalty.ledger import adjust  # noqa: E402
from core.loyalty.members import Customer, Membership  # noqa: E402
from core.loyalty.program import update_program  # noqa: E402
from core.loyalty.rewards import create_reward  # noqa: E402
from core.testing.services import _free_port  # noqa: E402
from plugins.api.tokens import create_token  # noqa: E402
from tenants.models import Tenant  # noqa: E402
from tenants.services import create_tenant  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_soak"
DEFAULT_REDIS = "redis://127.0.0.1:6379/10"
SLUG = "soak"
OWNER = "owner@soak.example"
STAFF = Actor.staff(1)
OPENING_BALANCE = 1_000_000  # redemptions never run short
HOT = 5  # the members every redemption races on
SIGNED_IN = 50


# --- the fakes at the network's edge (FCM's: bench/fake_fcm.py) ------------


class SmtpSink:
    """Counts the messages received per recipient, and their distinct Message-IDs (a
    mail system that drops a Message-ID it already delivered shows those)."""

    def __init__(self) -> None:
        self.received: Counter = Counter()
        self.ids: defaultdict = defaultdict(set)
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        message_id = BytesParser().parsebytes(envelope.content, headersonly=True)["Message-ID"]
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.received[rcpt.lower()] += 1
                self.ids[rcpt.lower()].add(message_id)
        return "250 OK"

    def clear(self) -> None:
        self.received.clear()
        self.ids.clear()


# --- the data ----------------------------------------------------------------


def setup(args, smtp_port: int) -> dict:
    """The merchant, members, reward, token, app sessions and push devices."""
    app = create_app(
        {
            "PREMIA_DATABASE_URL": args.database_url,
            "PREMIA_REDIS_URL": args.redis_url,  # the set-up's own mails: dropped below
            "PREMIA_SMTP_HOST": "127.0.0.1",
            "PREMIA_SMTP_PORT": smtp_port,
        }
    )
    upgrade(app)
    platform = app.extensions["premia"]
    with app.app_context():
        with platform_session(platform.sessions) as session:
            tenant = create_tenant(
                session,
                slug=SLUG,
                name="Soak",
                plan="white-label",
                currency="COP",
                country="CO",
                timezone="America/Bogota",
                owner_email=OWNER,
                owner_password="soak-password-42",
            )
            session.commit()
            tenant_id = tenant.id
        with tenant_session(platform.sessions, tenant_id) as session:
            update_program(session, {"points_per_amount": {"amount": "1000", "points": 1}})
            for n in range(args.customers):
                member = create_member(session, email=f"m{n}@soak.example", actor=STAFF)
                adjust(session, member, OPENING_BALANCE, actor=STAFF, description="soak")
                if n % 100 == 99:
                    session.commit()
            reward = create_reward(session, name="Café", points=10, stock=100_000_000)
            _token, secret = create_token(session, name="soak", scopes=["all"])
            session.commit()
            codes = list(session.scalars(select(Membership.code).order_by(Membership.id)))
            model = session.scalar(select(Membership).order_by(Membership.id))
            model_customer, model_member = model.customer_id, model.id
        cookies = []
        with app.test_request_context(), platform_session(platform.sessions) as session:
            for n in range(min(SIGNED_IN, args.customers)):
                customer = session.scalars(
                    select(Customer).filter_by(email=f"m{n}@soak.example")
                ).one()
                log_in(session, customer)
                cookies.append(f"{COOKIE}={g.customer_cookie}")
            session.commit()
    platform.engine.dispose()
    with psycopg.connect(libpq(args.database_url), autocommit=True) as conn:
        # Push devices of members of their own (balance 0, no entries), as bench/push.py.
        conn.execute(
            """
            INSERT INTO customers (email, first_name, last_name, created_at, mail_preferences)
            SELECT 'd' || n || '@soak.example', first_name, last_name, created_at, '{}'
            FROM customers, generate_series(1, %s) AS n WHERE id = %s
            """,
            (args.devices, model_customer),
        )
        conn.execute(
            """
            INSERT INTO memberships (customer_id, code, balance, search_text, joined_via,
                                     created_at, tenant_id, first_name, last_name)
            SELECT c.id, 'D' || lpad(c.id::text, 12, '0'), 0, m.search_text, m.joined_via,
                   m.created_at, m.tenant_id, m.first_name, m.last_name
            FROM customers c, memberships m
            WHERE m.id = %s AND c.email LIKE 'd%%@soak.example'
            """,
            (model_member,),
        )
        conn.execute(
            """
            INSERT INTO push_devices (member_id, token, user_agent, created_at, seen_at, tenant_id)
            SELECT m.id, 'tok-' || m.id || '-' || repeat('x', 140), 'soak', now(), now(),
                   m.tenant_id
            FROM memberships m JOIN customers c ON c.id = m.customer_id
            WHERE m.tenant_id = %s AND c.email LIKE 'd%%@soak.example'
            """,
            (tenant_id,),
        )
        conn.execute("VACUUM (ANALYZE)")
    Redis.from_url(args.redis_url).flushdb()
    return {
        "tenant_id": tenant_id,
        "codes": codes,
        "reward_id": reward.id,
        "token": secret,
        "cookies": cookies,
    }


# --- the processes -----------------------------------------------------------


def worker_options(args, index: int) -> list[str]:
    """As docs/scaling.md deploys them: the first `--bulk-workers` on the bulk queue alone
    (a forked process per job), the others on the rest (each job in their own process)."""
    if index < args.bulk_workers:
        return ["--queue", "bulk"]
    return ["--queue", "mail", "--queue", "default", "--queue", "webhooks"]


def start_worker(env: dict, options: list[str]) -> subprocess.Popen:
    """`premia worker OPTIONS…` (bench/fake_fcm.py's, sending pushes to the fake FCM)."""
    return subprocess.Popen(
        [sys.executable, __file__, "--as-worker", *options],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=open(Path(tempfile.gettempdir()) / "soak-workers.log", "a"),
    )


def with_children(pid: int) -> list[int]:
    """The process and every process under it (a work horse, rq's scheduler)."""
    found = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                found += with_children(int(child))
    except FileNotFoundError:
        pass
    return found


def gunicorn_workers(server: subprocess.Popen) -> list[int]:
    path = Path(f"/proc/{server.pid}/task/{server.pid}/children")
    return [int(p) for p in path.read_text().split()]


# --- the load ----------------------------------------------------------------


def client(port: int, data: dict, stop_at: float, seed: int, out) -> None:
    """Mixed requests until `stop_at`; each retried (same key and body) until answered."""
    rng = random.Random(seed)
    codes, hot = data["codes"][: len(data["codes"])], data["codes"][:HOT]
    api = {"Authorization": f"Bearer {data['token']}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    done, keys, refused = [], [], Counter()
    while time.time() < stop_at:
        roll = rng.random()
        if roll < 0.6:
            kind, code = "earn", rng.choice(codes)
            method, path = "POST", f"/api/v1/customers/{code}/points"
            body, headers = json.dumps({"amount": "45000"}), {**api}
        elif roll < 0.8:
            kind, code = "redeem", rng.choice(hot)
            method, path = "POST", f"/api/v1/customers/{code}/redemptions"
            body, headers = json.dumps({"reward_id": data["reward_id"]}), {**api}
        else:
            kind, code = "app", None
            method, body = "GET", None
            path = rng.choice(("/app/", f"/t/{SLUG}/app/history"))
            headers = {"Cookie": rng.choice(data["cookies"])}
        if method == "POST":
            headers["Idempotency-Key"] = key = uuid.uuid4().hex
        started, attempts = time.perf_counter(), 0
        while True:
            attempts += 1
            try:
                conn.request(method, path, body, headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = None
            if status is not None and status < 500 and status != 429:
                break
            conn.close()  # a new connection: the old one's process may be gone
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            time.sleep(min(1.0, 0.05 * attempts))
        done.append((time.time(), kind, time.perf_counter() - started, attempts, status))
        if status >= 300:
            refused[(kind, status)] += 1
        elif method == "POST":
            keys.append((kind, key, code))
    out.send((done, keys, refused))
    out.close()


def busy_worker(redis: Redis, name: str, seconds: float) -> tuple[Worker, object] | None:
    """An rq worker running a job, and its job: one named `name`, or with "any" the
    import's or the send's if one of them runs, else any (None if none in time)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        busy = [(w, w.get_current_job()) for w in Worker.all(connection=redis)]
        busy = [(w, job) for w, job in busy if job is not None]
        for worker, job in busy:
            if job.func_name.rsplit(".", 1)[1] in (
                (name,) if name != "any" else ("run_import", "start_send", "send_batch")
            ):
                return worker, job
        if busy and name == "any":
            return busy[0]
        time.sleep(0.1)
    return None


def sample_backlog(args, stop_at: float, samples: list) -> None:
    """The jobs waiting (queued or scheduled) every 5 s until `stop_at`."""
    redis = Redis.from_url(args.redis_url)
    from worker.runners import RqRunner

    queues = RqRunner(redis).queues()
    while time.time() < stop_at:
        waiting = sum(q.count + ScheduledJobRegistry(queue=q).count for q in queues)
        samples.append((time.time(), waiting))
        time.sleep(5)


def background(args, data: dict, env: dict, workers: list, server, t0: float, log: list) -> None:
    """The import and the push send, and the two kills, at their times."""
    redis = Redis.from_url(args.redis_url)
    time.sleep(max(0.0, t0 + 0.1 * args.seconds - time.time()))
    queue_import_and_send(args, data)
    log.append((time.time() - t0, "CSV import and push send queued (bulk queue)"))
    time.sleep(max(0.0, t0 + 0.3 * args.seconds - time.time()))
    victim = random.choice(gunicorn_workers(server))
    os.kill(victim, signal.SIGKILL)
    log.append((time.time() - t0, f"SIGKILL gunicorn worker {victim} (its arbiter starts another)"))
    time.sleep(max(0.0, t0 + 0.5 * args.seconds - time.time()))
    # With no worker of its own on the bulk queue (--bulk-workers 0), a named bulk job may
    # run only once the load is over: rq takes a worker's queues in order, bulk last.
    found = busy_worker(redis, args.kill_job, 30 if args.kill_job == "any" else args.drain)
    if found is None:
        log.append((time.time() - t0, "no rq worker was busy: none killed"))
        return
    running, job = found
    index = next(i for i, w in enumerate(workers) if w.pid == running.pid)
    for pid in with_children(workers[index].pid):
        os.kill(pid, signal.SIGKILL)
    workers[index].wait()
    data["killed_job"] = job.id
    options = worker_options(args, index)
    log.append(
        (
            time.time() - t0,
            f"SIGKILL rq worker {running.pid} ({' '.join(options)}) mid-job, with its "
            f"work horse if any ({job.func_name.rsplit('.', 1)[1]}); started again",
        )
    )
    workers[index] = start_worker(env, options)


def queue_import_and_send(args, data: dict) -> None:
    from core.sdk import enqueue
    from plugins.csv_import import importing
    from plugins.csv_import import jobs as import_jobs
    from plugins.push import jobs as push_jobs
    from plugins.push import sends

    app = create_app({"PREMIA_DATABASE_URL": args.database_url, "PREMIA_REDIS_URL": args.redis_url})
    platform = app.extensions["premia"]
    with app.app_context(), tenant_session(platform.sessions, data["tenant_id"]) as session:
        tenant = session.get(Tenant, data["tenant_id"])
        folder = importing.upload_folder(tenant.id)
        folder.mkdir(parents=True, exist_ok=True)
        stored = folder / f"soak-{uuid.uuid4().hex}.csv"
        shutil.copyfile(data["csv"], stored)
        imported = importing.accept(
            session, tenant, kind="customers", path=stored, filename="clientes.csv"
        )
        importing.start(session, imported)
        import_jobs.queue_run(session, imported)
        send = sends.create(session, tenant, sends.Draft("Soak", "Hola"), None)
        session.flush()
        enqueue(session, push_jobs.start_send, tenant.id, send.id)
        session.commit()
        data["import_id"], data["send_id"] = imported.id, send.id
    platform.engine.dispose()


def drain(args, data: dict, seconds: float) -> float:
    """Wait until no job is queued, running or scheduled, no outbox row waits for its
    relay, and the import and send are done."""
    from core.host import outbox
    from plugins.csv_import.models import Import
    from plugins.push.models import Send

    redis = Redis.from_url(args.redis_url)
    app = create_app({"PREMIA_DATABASE_URL": args.database_url, "PREMIA_REDIS_URL": args.redis_url})
    platform = app.extensions["premia"]
    queues = platform.jobs.queues()
    started = time.time()
    while time.time() - started < seconds:
        pending = sum(
            q.count
            + len(StartedJobRegistry(queue=q).get_job_ids(cleanup=False))
            + len(ScheduledJobRegistry(queue=q).get_job_ids(cleanup=False))
            for q in queues
        ) + outbox.pending(app)
        with app.app_context(), tenant_session(platform.sessions, data["tenant_id"]) as session:
            statuses = (
                session.get(Import, data.get("import_id", 0)),
                session.get(Send, data.get("send_id", 0)),
            )
            finished = all(s is not None and s.status == "done" for s in statuses)
        if pending == 0 and finished:
            break
        time.sleep(2)
    platform.engine.dispose()
    redis.close()
    return time.time() - started


def killed_job_fate(args, job_id: str, t0: float) -> str:
    from rq.job import Job

    job = Job.fetch(job_id, connection=Redis.from_url(args.redis_url))
    ended = job.ended_at.timestamp() - t0 if job.ended_at else None
    return (
        f"the killed worker's job: {job.get_status()}"
        + (f" at {ended:.1f} s" if ended is not None else "")
        + f", {job.retries_left} of 3 retries left"
    )


# --- the checks --------------------------------------------------------------


def checks(args, data: dict, keys: list, smtp: SmtpSink, fcm_url: str, mail_from: int) -> list:
    """Each check's name, whether it holds, and what was found."""
    results = []
    with psycopg.connect(libpq(args.database_url)) as conn:
        conn.execute("CREATE TEMPORARY TABLE soak_keys (kind text, key text, code text)")
        with conn.cursor().copy("COPY soak_keys FROM STDIN") as copy:
            for row in keys:
                copy.write_row(row)

        def one(sql: str, *params):
            return conn.execute(sql, params).fetchone()

        # An earn by amount is a purchase (the key is the purchase's) and its earn entry.
        earns = one(
            "SELECT count(*), count(*) FILTER (WHERE p <> 1 OR e <> 1) FROM (SELECT k.key, "
            "(SELECT count(*) FROM purchases x WHERE x.idempotency_key = 'client:' || k.key) p, "
            "(SELECT count(*) FROM purchases x JOIN ledger_entries y ON y.purchase_id = x.id "
            " AND y.kind = 'earn' WHERE x.idempotency_key = 'client:' || k.key) e "
            "FROM soak_keys k WHERE k.kind = 'earn') t"
        )
        results.append(
            (
                "every earn's key has one purchase and one entry",
                earns[1] == 0,
                f"{earns[0]} keys, {earns[1]} not once",
            )
        )
        redeems = one(
            "SELECT count(*), count(*) FILTER (WHERE r <> 1 OR e <> 1) FROM (SELECT k.key, "
            "(SELECT count(*) FROM redemptions x WHERE x.idempotency_key = k.key) r, "
            "(SELECT count(*) FROM ledger_entries x "
            " WHERE x.idempotency_key = 'system:redemption:' || k.key) e "
            "FROM soak_keys k WHERE k.kind = 'redeem') t"
        )
        results.append(
            (
                "every redemption's key has one redemption and one entry",
                redeems[1] == 0,
                f"{redeems[0]} keys, {redeems[1]} not once",
            )
        )
        balances = one(
            "SELECT count(*), count(*) FILTER (WHERE m.balance <> coalesce(e.s, 0) "
            "OR m.balance <> coalesce(l.s, 0) OR m.balance < 0) FROM memberships m "
            "LEFT JOIN (SELECT member_id, sum(points) s FROM ledger_entries GROUP BY 1) e "
            "ON e.member_id = m.id "
            "LEFT JOIN (SELECT member_id, sum(remaining) s FROM ledger_lots GROUP BY 1) l "
            "ON l.member_id = m.id WHERE m.tenant_id = %s",
            data["tenant_id"],
        )
        results.append(
            (
                "every balance = its entries = its lots, never negative",
                balances[1] == 0,
                f"{balances[0]} members, {balances[1]} off",
            )
        )

        # The import: each valid row's member once, its opening points once.
        expected = {}
        with open(data["csv"], encoding="utf-8-sig") as stream:
            for row in list(csv.reader(stream, delimiter=";"))[1:]:
                if "@" in row[2]:
                    expected[row[2]] = int(row[6])
        status = one(
            "SELECT status, created, refused FROM csv_import_files WHERE id = %s",
            data.get("import_id", 0),
        )
        rows = conn.execute(
            "SELECT c.email, count(DISTINCT m.id), coalesce(sum(e.points), 0), count(e.id) "
            "FROM customers c JOIN memberships m ON m.customer_id = c.id "
            "LEFT JOIN ledger_entries e ON e.member_id = m.id "
            "WHERE c.email LIKE 'c%%@bench.example' AND m.tenant_id = %s GROUP BY c.email",
            (data["tenant_id"],),
        ).fetchall()
        found = {email: (members, points, entries) for email, members, points, entries in rows}
        wrong = [
            e for e, points in expected.items() if found.get(e) != (1, points, 1 if points else 0)
        ]
        results.append(
            (
                "the CSV import created each valid row once, its points once",
                status is not None
                and status[0] == "done"
                and not wrong
                and len(found) == len(expected)
                and status[1] == len(expected),
                f"import {status}, {len(expected)} valid rows, {len(found)} members, "
                f"{len(wrong)} wrong",
            )
        )

        # The push send: each delivery sent, each token reached FCM once.
        deliveries = dict(
            conn.execute(
                "SELECT status, count(*) FROM push_deliveries WHERE send_id = %s GROUP BY 1",
                (data.get("send_id", 0),),
            ).fetchall()
        )
        tokens = {
            t
            for (t,) in conn.execute(
                "SELECT token FROM push_deliveries WHERE send_id = %s", (data.get("send_id", 0),)
            )
        }
        counts = fake_fcm.counts(fcm_url)
        twice = sum(1 for n in counts.values() if n > 1)
        missing = len(tokens - set(counts))
        results.append(
            (
                "each push delivery reached FCM exactly once",
                len(tokens) == args.devices
                and twice == 0
                and missing == 0
                and set(counts) == tokens
                and set(deliveries) == {"sent"},
                f"{len(tokens)} deliveries {deliveries}, FCM got {sum(counts.values())} "
                f"messages for {len(counts)} tokens, {twice} twice, {missing} missing",
            )
        )

        # E-mail: each earn and redemption recorded its mail once; the sink got them once.
        lost = one(
            "SELECT count(*) FILTER (WHERE d.id IS NULL), count(*) FROM ("
            " SELECT 'points_received:' || e.id AS mail FROM soak_keys k"
            " JOIN purchases p ON p.idempotency_key = 'client:' || k.key"
            " JOIN ledger_entries e ON e.purchase_id = p.id AND e.kind = 'earn'"
            " WHERE k.kind = 'earn' UNION ALL"
            " SELECT 'redemption_confirmed:' || r.id FROM soak_keys k"
            " JOIN redemptions r ON r.idempotency_key = k.key WHERE k.kind = 'redeem') t "
            "LEFT JOIN notifications_deliveries d ON d.key = t.mail"
        )
        recorded = Counter(
            dict(
                conn.execute(
                    "SELECT lower(recipient), count(*) FROM notifications_deliveries WHERE id > %s "
                    "GROUP BY 1",
                    (mail_from,),
                ).fetchall()
            )
        )
        # A worker killed after the SMTP server took a mail and before its job's commit
        # sends it again on retry (no commit can include the SMTP server): the same
        # message, by its Message-ID, counted apart.
        received = Counter({k: len(v) for k, v in smtp.ids.items() if k != OWNER})
        resent = sum(n for k, n in smtp.received.items() if k != OWNER) - sum(received.values())
        more = sum(1 for r in received if received[r] > recorded[r])
        fewer = sum(1 for r in recorded if received[r] < recorded[r])
        results.append(
            (
                "each earn's and redemption's e-mail recorded once, received once",
                lost[0] == 0 and more == 0 and fewer == 0,
                f"{lost[1]} earns and redemptions, {lost[0]} without their mail; "
                f"{sum(recorded.values())} recorded, {sum(received.values())} received "
                f"(Message-IDs; {resent} sent again with the same one); "
                f"{more} recipients got more than recorded, {fewer} fewer",
            )
        )
    return results


def load() -> str:
    return " ".join(f"{n:.2f}" for n in os.getloadavg())


def per_minute(done: list, t0: float, backlog: list) -> list[str]:
    lines = []
    buckets = defaultdict(list)
    for at, kind, seconds, attempts, _status in done:
        buckets[int((at - t0) // 60)].append((seconds, attempts, kind))
    for minute in sorted(buckets):
        rows = buckets[minute]
        latencies = sorted(s for s, _a, _k in rows)
        span = min(60.0, max(1.0, max(at for at, *_ in done) - t0 - 60 * minute))
        kinds = Counter(k for _s, _a, k in rows)
        waiting = [n for at, n in backlog if at - t0 < 60 * (minute + 1)]
        lines.append(
            f"  minute {minute + 1}: {len(rows):6d} requests, {len(rows) / span:6.1f}/s, "
            f"p50 {latencies[len(latencies) // 2] * 1000:6.0f} ms, "
            f"p99 {latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000:6.0f} ms, "
            f"retried {sum(1 for _s, a, _k in rows if a > 1)}, "
            f"jobs waiting at its end {waiting[-1] if waiting else 0} "
            f"({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})"
        )
    return lines


def main() -> None:
    if "--as-worker" in sys.argv:
        options = sys.argv[sys.argv.index("--as-worker") + 1 :]
        sys.argv = [sys.argv[0]]
        fake_fcm.run_worker(*options)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--import-rows", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn's")
    parser.add_argument("--rq-workers", type=int, default=3)
    parser.add_argument(
        "--bulk-workers", type=int, default=1, help="of the rq workers, those on `--queue bulk`"
    )
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument(
        "--kill-job", default="any", help="the job whose worker is killed (run_import, …)"
    )
    parser.add_argument("--drain", type=float, default=900, help="at most, after the run")
    args = parser.parse_args()

    smtp = SmtpSink()
    smtp_port = _free_port()
    controller = Controller(smtp, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    folder = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    fake, fcm_url, key = fake_fcm.start(folder)

    print(f"setting up {args.customers} members, {args.devices} devices…", flush=True)
    fresh_database(args.database_url)
    data = setup(args, smtp_port)
    data["csv"] = folder / "clientes.csv"
    write_customers(data["csv"], args.import_rows)
    with psycopg.connect(libpq(args.database_url)) as conn:
        mail_from = conn.execute("SELECT coalesce(max(id), 0) FROM notifications_deliveries")
        mail_from = mail_from.fetchone()[0]
    smtp.clear()

    env = {
        **os.environ,
        "PREMIA_DATABASE_URL": args.database_url,
        "PREMIA_REDIS_URL": args.redis_url,
        "PREMIA_SMTP_HOST": "127.0.0.1",
        "PREMIA_SMTP_PORT": str(smtp_port),
        "PREMIA_FIREBASE_CREDENTIALS": str(key),
        "BENCH_FCM_URL": fcm_url,
        "PYTHONPATH": str(ROOT),
    }
    os.environ.update({k: env[k] for k in ("PREMIA_SMTP_HOST", "PREMIA_SMTP_PORT")})
    server = start_gunicorn(
        SimpleNamespace(
            database_url=args.database_url,
            port=args.port,
            workers=args.workers,
            threads=1,
            worker_class="sync",
        ),
        args.redis_url,
    )
    workers = [start_worker(env, worker_options(args, n)) for n in range(args.rq_workers)]
    events: list = []
    try:
        time.sleep(3)  # the workers are up
        t0 = time.time()
        stop_at = t0 + args.seconds
        events.append((0.0, f"load average {load()}"))
        pipes, procs = [], []
        for n in range(args.clients):
            parent, child = multiprocessing.Pipe(duplex=False)
            proc = multiprocessing.Process(target=client, args=(args.port, data, stop_at, n, child))
            proc.start()
            pipes.append(parent)
            procs.append(proc)
        chaos = threading.Thread(
            target=background, args=(args, data, env, workers, server, t0, events)
        )
        chaos.start()
        backlog: list = []
        sampler = threading.Thread(target=sample_backlog, args=(args, stop_at, backlog))
        sampler.start()
        done, keys, refused = [], [], Counter()
        for pipe in pipes:
            mine, my_keys, my_refused = pipe.recv()
            done += mine
            keys += my_keys
            refused += my_refused
        for proc in procs:
            proc.join()
        chaos.join()
        sampler.join()
        print(f"load over at {args.seconds:.0f} s; waiting for the jobs…", flush=True)
        events.append((time.time() - t0, f"load over; load average {load()}"))
        waited = drain(args, data, args.drain)
        events.append((time.time() - t0, f"jobs drained ({waited:.0f} s after the load)"))
        if "killed_job" in data:
            events.append((time.time() - t0, killed_job_fate(args, data["killed_job"], t0)))
        results = checks(args, data, keys, smtp, fcm_url, mail_from)
    finally:
        for worker in workers:
            for pid in reversed(with_children(worker.pid)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        for worker in workers:
            worker.wait(30)
        stop_gunicorn(server)
        controller.stop()
        fake.terminate()
        shutil.rmtree(folder, ignore_errors=True)

    print(
        f"\n{len(done)} requests by {args.clients} clients in {args.seconds:.0f} s, "
        f"{sum(1 for d in done if d[3] > 1)} answered after retries "
        f"({sum(d[3] - 1 for d in done)} retries); refused (4xx): {dict(refused) or 'none'}"
    )
    for at, what in events:
        print(f"  {at:6.1f} s  {what}")
    print("per minute (a request's time includes its retries):")
    for line in per_minute(done, t0, backlog):
        print(line)
    print("checks:")
    for name, held, found in results:
        print(f"  [{'ok' if held else 'FAILED'}] {name}: {found}")
    if not all(held for _name, held, _found in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
