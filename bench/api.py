"""Load benchmark of the POS API: gunicorn + PostgreSQL, against a psycopg ceiling.

    python bench/api.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_api \\
        --seconds 15

Creates (or empties) the database, migrates it, creates a white-label merchant
(every plugin of that plan active) earning 1 point per 1,000 COP, 1,000
customers with a large opening balance, a reward with a large stock and an API
token with every scope (the rate limit is raised for the run through
PREMIA_API_RATE_LIMIT). Starts gunicorn on loopback as the README runs it in
production (sync workers, 4; `--worker-class`, `--workers`, `--threads` to try
others), waits for /healthz, then for a bounded time per scenario has N
concurrent clients (one process each, plain http.client, keep-alive where the
worker keeps connections) send:

  earn, 1,000 customers   POST /api/v1/customers/{code}/points {"amount": "45000"}
  earn, one hot customer  the same, always the same customer (one row lock)
  redeem                  POST /api/v1/customers/{code}/redemptions {"reward_id": …}

each with its own Idempotency-Key. The ceiling: psycopg runs the very
statements one earn request sends to PostgreSQL (captured from a real request,
printed with --show-sql), each run a transaction, with the same number of
client processes on the same data. The earn and the ceiling alternate for
`--rounds` rounds (the speed of a shared machine's cores drifts). Prints requests
per second, p50/p99 latency, errors, the ceiling's transactions per second and
the ratio of each round, and their median. Figures go in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import psycopg
from redis import Redis
from sqlalchemy import event, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.app import create_app  # noqa: E402
from core.host.actors import Actor  # noqa: E402
from core.host.db import platform_session, tenant_session  # noqa: E402
from core.host.migrate import upgrade  # noqa: E402
from core.loyalty.customers import create_member  # noqa: E402
from core.loyalty.ledger import adjust  # noqa: E402
from core.loyalty.members import Membership  # noqa: E402
from core.loyalty.program import update_program  # noqa: E402
from core.loyalty.rewards import create_reward  # noqa: E402
from plugins.api.tokens import create_token  # noqa: E402
from tenants.services import create_tenant  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_api"
DEFAULT_REDIS = "redis://127.0.0.1:6379/8"
STAFF = Actor.staff(1)
OPENING_BALANCE = 10_000_000  # redemptions never run short
REWARD_POINTS = 10


# --- the data --------------------------------------------------------------


def fresh_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(libpq(url).rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def setup(app, customers: int) -> dict:
    """The merchant, its program, customers, reward and token; returns what the load needs."""
    platform = app.extensions["premia"]
    with platform_session(platform.sessions) as session:
        tenant = create_tenant(
            session,
            slug="bench",
            name="Bench",
            plan="white-label",
            currency="COP",
            country="CO",
            timezone="America/Bogota",
            owner_email="owner@bench.example",
            owner_password="bench-password",
        )
        session.commit()
        tenant_id = tenant.id
    with tenant_session(platform.sessions, tenant_id) as session:
        update_program(session, {"points_per_amount": {"amount": "1000", "points": 1}})
        for n in range(customers):
            member = create_member(session, email=f"c{n}@bench.example", actor=STAFF)
            adjust(session, member, OPENING_BALANCE, actor=STAFF, description="bench")
            if n % 100 == 99:
                session.commit()
        reward = create_reward(session, name="Café", points=REWARD_POINTS, stock=100_000_000)
        _token, secret = create_token(session, name="bench", scopes=["all"])
        session.commit()
        codes = list(session.scalars(select(Membership.code).order_by(Membership.id)))
        return {"tenant_id": tenant_id, "codes": codes, "reward_id": reward.id, "token": secret}


# --- the server ------------------------------------------------------------


def start_gunicorn(args, redis_url: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "PREMIA_DATABASE_URL": args.database_url,
        "PREMIA_REDIS_URL": redis_url,
        "PREMIA_API_RATE_LIMIT": "100000000/minute",
    }
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "core:create_app()",
        "--bind",
        f"127.0.0.1:{args.port}",
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads),
        "--worker-class",
        args.worker_class,
        "--keep-alive",
        "30",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            pass
        if server.poll() is not None:
            raise SystemExit("gunicorn did not start")
        time.sleep(0.3)
    stop_gunicorn(server)
    raise SystemExit("gunicorn did not answer /healthz within 60 s")


def stop_gunicorn(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children that ended."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def server_cpu(server: subprocess.Popen) -> float:
    pids = [server.pid] + [
        int(p)
        for p in (Path("/proc") / str(server.pid) / "task" / str(server.pid) / "children")
        .read_text()
        .split()
    ]
    return sum(process_cpu(p) for p in pids)


# --- the load --------------------------------------------------------------


def client(
    port: int, token: str, requests: list, start_at: float, stop_at: float, seed: int, out
) -> None:
    """One keep-alive connection sending requests until `stop_at`; reports latencies."""
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    latencies, statuses = [], Counter()
    time.sleep(max(0, start_at - time.time()))
    cpu = time.process_time()
    while time.time() < stop_at:
        path, body = rng.choice(requests)
        headers["Idempotency-Key"] = uuid.uuid4().hex
        started = time.perf_counter()
        conn.request("POST", path, body, headers)
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        statuses[response.status] += 1
    out.send((latencies, statuses, time.process_time() - cpu))
    out.close()


def load(args, token: str, requests: list, server: subprocess.Popen) -> dict:
    start_at = time.time() + 0.5
    return gather(
        args, client, (args.port, token, requests), start_at, start_at + args.seconds, server
    )


def gather(
    args,
    target,
    target_args: tuple,
    start_at: float,
    stop_at: float,
    server: subprocess.Popen | None,
) -> dict:
    """Run `args.clients` processes of `target` between the two times; sum up their answers."""
    pipes, procs = [], []
    for n in range(args.clients):
        parent, child = multiprocessing.Pipe(duplex=False)
        proc = multiprocessing.Process(
            target=target, args=(*target_args, start_at, stop_at, n, child)
        )
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    time.sleep(max(0, start_at - time.time()))
    cpu_before = server_cpu(server) if server else 0.0
    latencies, statuses, client_cpu = [], Counter(), 0.0
    for pipe in pipes:
        mine, counts, cpu = pipe.recv()
        latencies += mine
        statuses.update(counts)
        client_cpu += cpu
    server_seconds = server_cpu(server) - cpu_before if server else 0.0
    for proc in procs:
        proc.join()
    latencies.sort()
    ok = sum(n for status, n in statuses.items() if 200 <= status < 300)
    seconds = stop_at - start_at
    return {
        "requests": len(latencies),
        "per_second": ok / seconds,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
        "errors": len(latencies) - ok,
        "statuses": dict(statuses),
        "client_cpu": client_cpu / seconds,
        "server_cpu": server_seconds / seconds,
    }


# --- the statements of one request, and the ceiling ------------------------


def capture(app, data: dict, code: str) -> dict:
    """Every round trip to PostgreSQL of one earn request, in order (run in-process,
    after a first request has warmed the caches); with what the replay must vary."""
    engine = app.extensions["premia"].engine
    trips: list = []
    returned: list[int] = []

    def statement(_conn, _cursor, sql, params, _context, _many) -> None:
        trips.append((sql, params))

    def result(_conn, cursor, sql, _params, _context, _many) -> None:
        if " RETURNING " in sql and cursor.description:
            # The ids the ORM reads back and may send again (an entry's id in its lot).
            returned.append(cursor.fetchone()[0])
            cursor.scroll(-1)

    listeners = [
        (engine, "before_cursor_execute", statement),
        (engine, "after_cursor_execute", result),
        (engine, "begin", lambda _conn: trips.append(("BEGIN", None))),
        (engine, "commit", lambda _conn: trips.append(("COMMIT", None))),
        (engine, "rollback", lambda _conn: trips.append(("ROLLBACK", None))),
        (engine.pool, "checkout", lambda *_a: trips.append(("(pool checkout: ping)", None))),
    ]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {data['token']}"}
    client.post(
        f"/api/v1/customers/{data['codes'][1]}/points",
        json={"amount": "45000"},
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
    )  # warm up
    key = uuid.uuid4().hex
    for target, name, fn in listeners:
        event.listen(target, name, fn)
    try:
        response = client.post(
            f"/api/v1/customers/{code}/points",
            json={"amount": "45000"},
            headers={**headers, "Idempotency-Key": key},
        )
        assert response.status_code == 201, response.get_data(as_text=True)
    finally:
        for target, name, fn in listeners:
            event.remove(target, name, fn)
    return {"trips": trips, "returned": returned, "key": key, "code": code}


def replay_plan(captured: dict, member_id: int) -> list:
    """The captured statements (SELECT/INSERT/UPDATE/DELETE) with the values that
    differ from one request to the next marked: the key, the customer, returned ids."""
    if member_id in captured["returned"]:
        raise SystemExit("capture on another customer: its id equals a returned id")
    plan = []
    seen = 0  # ids returned so far: only those can be sent back
    for sql, params in captured["trips"]:
        if params is None:
            continue
        marks = {}
        for name, value in params.items():
            if name.startswith("tenant_id"):
                continue
            if isinstance(value, str) and captured["key"] in value:
                marks[name] = ("key", value.replace(captured["key"], "{}"))
            elif isinstance(value, str) and value == captured["code"]:
                marks[name] = ("code", None)
            elif isinstance(value, int) and not isinstance(value, bool):
                if value == member_id:
                    marks[name] = ("member", None)
                elif value in captured["returned"][:seen]:
                    marks[name] = ("returned", captured["returned"].index(value))
            elif hasattr(value, "tzinfo"):
                marks[name] = ("now", None)
        plan.append((sql, params, marks, " RETURNING " in sql))
        seen += " RETURNING " in sql
    return plan


def ceiling_client(
    url: str, plan: list, members: list, start_at: float, stop_at: float, seed: int, out
) -> None:
    """The same statements with psycopg: one transaction per earn, until `stop_at`."""
    from datetime import UTC, datetime

    rng = random.Random(seed)
    latencies = []
    with psycopg.connect(libpq(url)) as conn:
        time.sleep(max(0, start_at - time.time()))
        cpu = time.process_time()
        while time.time() < stop_at:
            member_id, code = rng.choice(members)
            key = uuid.uuid4().hex
            started = time.perf_counter()
            returned: list[int] = []
            with conn.cursor() as cursor:
                for sql, params, marks, returning in plan:
                    values = dict(params)
                    for name, (what, extra) in marks.items():
                        if what == "key":
                            values[name] = extra.format(key)
                        elif what == "code":
                            values[name] = code
                        elif what == "member":
                            values[name] = member_id
                        elif what == "returned":
                            values[name] = returned[extra]
                        else:
                            values[name] = datetime.now(UTC)
                    cursor.execute(sql, values)
                    if cursor.description:
                        rows = cursor.fetchall()
                        if returning:
                            returned.append(rows[0][0])
            conn.commit()
            latencies.append(time.perf_counter() - started)
        out.send((latencies, Counter({200: len(latencies)}), time.process_time() - cpu))
    out.close()


def vacuum(url: str) -> None:
    """Every scenario starts from the same state. A thousand membership rows updated
    thousands of times a minute by 16 clients keep their pages pinned, so their dead
    row versions are never pruned; without this, each scenario ran slower than the
    one before, whichever it was (a real merchant's members are not this few)."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


def ceiling(args, plan: list, members: list) -> dict:
    start_at = time.time() + 1.0
    stop_at = start_at + args.seconds
    return gather(
        args, ceiling_client, (args.database_url, plan, members), start_at, stop_at, server=None
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="earn and ceiling, alternated")
    # The README's production command: sync workers, two per core.
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--show-sql", action="store_true", help="print one earn's statements")
    parser.add_argument("--only", help="comma-separated scenarios: earn,hot,redeem,ceiling")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else {"earn", "hot", "redeem", "ceiling"}

    fresh_database(args.database_url)
    Redis.from_url(args.redis_url).flushdb()  # this run's jobs and rate-limit counters only
    app = create_app(
        {
            "PREMIA_DATABASE_URL": args.database_url,
            "PREMIA_REDIS_URL": args.redis_url,
            "PREMIA_API_RATE_LIMIT": "100000000/minute",
        }
    )
    with app.app_context():
        upgrade(app)
        data = setup(app, args.customers)
        with tenant_session(app.extensions["premia"].sessions, data["tenant_id"]) as session:
            members = list(
                session.execute(select(Membership.id, Membership.code).order_by(Membership.id))
            )
        member_id, code = members[-1]
        captured = capture(app, data, code)
    app.extensions["premia"].engine.dispose()
    plan = replay_plan(captured, member_id)
    trips = [sql for sql, _params in captured["trips"]]
    if args.show_sql:
        for sql, params in captured["trips"]:
            print(re.sub(r"\s+", " ", sql)[:200], "" if params is None else params)
    print(
        f"one earn request: {len(trips)} round trips to PostgreSQL "
        f"({len(plan)} statements, {len(trips) - len(plan)} BEGIN/COMMIT/ping)"
    )

    results: dict[str, list[dict]] = {}
    earn_name, ceiling_name = "earn, 1,000 customers", "ceiling: earn's SQL, psycopg"
    server = start_gunicorn(args, args.redis_url)
    try:
        codes, reward = data["codes"], data["reward_id"]
        earn = json.dumps({"amount": "45000"})
        scenarios = {
            "earn": (earn_name, [(f"/api/v1/customers/{c}/points", earn) for c in codes]),
            "hot": ("earn, one hot customer", [(f"/api/v1/customers/{codes[0]}/points", earn)]),
            "redeem": (
                "redeem, 1,000 customers",
                [
                    (f"/api/v1/customers/{c}/redemptions", json.dumps({"reward_id": reward}))
                    for c in codes
                ],
            ),
        }
        # The earn and its ceiling alternate, round after round: on a shared machine the
        # speed of the cores drifts from one minute to the next, and a ratio of two
        # figures taken minutes apart would measure the drift.
        for round_ in range(args.rounds):
            for key, (name, requests) in scenarios.items():
                if key in only and (key == "earn" or round_ == 0):
                    vacuum(args.database_url)
                    results.setdefault(name, []).append(load(args, data["token"], requests, server))
            if "ceiling" in only:
                vacuum(args.database_url)
                results.setdefault(ceiling_name, []).append(ceiling(args, plan, members))
    finally:
        stop_gunicorn(server)

    print(
        f"{args.clients} clients, {args.seconds:g} s each, {args.rounds} rounds; gunicorn "
        f"{args.worker_class} {args.workers} workers × {args.threads} threads; load average "
        f"at the end: {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'scenario':<30}{'requests':>9}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'errors':>7}{'server cpu':>11}{'client cpu':>11}"
    )
    for name, runs in results.items():
        for n, r in enumerate(runs, 1):
            label = f"{name} ({n})" if len(runs) > 1 else name
            print(
                f"{label:<30}{r['requests']:>9}{r['per_second']:>8.0f}{r['p50_ms']:>8.1f}"
                f"{r['p99_ms']:>8.1f}{r['errors']:>7}{r['server_cpu']:>11.2f}"
                f"{r['client_cpu']:>11.2f}"
            )
            if r["errors"]:
                print("   statuses:", r["statuses"])
    if earn_name in results and ceiling_name in results:
        ratios = [
            e["per_second"] / c["per_second"]
            for e, c in zip(results[earn_name], results[ceiling_name], strict=True)
        ]
        print(
            "earn endpoint / ceiling, round by round: "
            + ", ".join(f"{r:.0%}" for r in ratios)
            + f"; median {statistics.median(ratios):.0%} (target ≥ 30%, p99 < 80 ms)"
        )
    print("cpu columns: cores used (gunicorn workers; load generator or ceiling clients)")


if __name__ == "__main__":
    main()
