"""Load benchmark of the POS API's earn: gunicorn + PostgreSQL, against two ceilings.

    python bench/api.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_api \\
        --seconds 15

Creates (or empties) the database, migrates it, creates a white-label merchant
(every plugin of that plan active) earning 1 point per 1,000 COP, 1,000
customers with a large opening balance, a reward with a large stock and an API
token with every scope (the rate limit is raised for the run through
PREMIA_API_RATE_LIMIT). Starts gunicorn on loopback as the README runs it in
production (sync workers, 4; `--worker-class`, `--workers`, `--threads` to try
others) serving the app plus one bare JSON route, then, for `--rounds` rounds
(alternated: the speed of a shared machine's cores drifts), has N concurrent
connections or pgbench clients send (HTTP by wrk, Debian's package, 2 threads: its C
leaves the cores to the server, where N Python clients took a third of the machine's
two; `--load python` for N `http.client` processes, as before 2026-12-06; gunicorn's
sync workers close each connection, so both connect again for each request, and wrk's
latency does not count the connect):

  earn            POST /api/v1/customers/{code}/points {"amount": "45000"}, new key each
  bare            POST /bench/bare: the same app, Flask and gunicorn, no work (ceiling)
  least           POST /bench/least-earn: the bare route plus the minimal earn's SQL sent
                  by raw psycopg (no ORM, token or rule): the most any earn over HTTP
                  can reach on this stack and machine
  minimal         pgbench: the least an earn is in SQL, fixed: lock the balance row,
                  insert the entry, update the balance, insert an audit row (ceiling)
  replay          pgbench: the statements one earn request sends (captured from a
                  real request, printed with --show-sql), a random customer, new keys
  floor           pgbench: the minimal earn's four statements on Premia's own tables (lock
                  the member, insert a ledger entry, update the balance, insert an outbox
                  row): what this schema's indexes, keys and member_totals' trigger cost
                  before anything of ours is added
  untallied       the same replay with member_totals' triggers disabled (the totals drift
                  then; nothing reads them in this database): what keeping
                  Inicio's totals in the earn's transaction costs (core.loyalty.member_totals)
  hot, redeem     (first round) the earn on one customer; a redemption

and, asked for (`--only parts`), what each part of our earn's SQL costs: the replay
without the stored answer (`no_answer`), the lot (`no_lot`), the outbox row
(`no_outbox`), the foreign keys' checks (`no_fk`: dropped for the run, put back after),
or sent in two round trips (`two_trips`); the three together (`redesigned`: no answer, no
lot, two trips), and those with the keys and member_totals' triggers gone too
(`stripped`); the floor's writes and the minimal's each in one round trip
(`floor_1trip`, `minimal_1trip`), against the minimal

and in this process, through the test client, the Python CPU (process time) of an
earn against the bare route's (`--profile`: the earn's cProfile). Prints
requests per second, p50/p99 latency, errors, the ratios of each round and
their median. Figures go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import re
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from flask import jsonify, request
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
        "--pythonpath",
        str(ROOT / "bench"),
        "api:served_app()",
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


# wrk's script: a request drawn from the list, a new Idempotency-Key each (the run's
# prefix, the thread's number, a counter); `done` prints the figures as one JSON line.
WRK_SCRIPT = """
local paths, bodies, prefix = %(paths)s, %(bodies)s, "%(prefix)s"
local threads, counter = 0, 0
function setup(thread)
  threads = threads + 1
  thread:set("number", threads)
end
function init(args)
  math.randomseed(number * 7919)
end
function request()
  counter = counter + 1
  local i = math.random(#paths)
  wrk.headers["Idempotency-Key"] = prefix .. "-" .. number .. "-" .. counter
  return wrk.format("POST", paths[i], wrk.headers, bodies[i])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\n{"requests": %%d, "microseconds": %%d, "p50": %%d, "p99": %%d, '
    .. '"status": %%d, "socket": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def _lua_list(items: list[str]) -> str:
    return "{" + ", ".join(json.dumps(item) for item in items) + "}"


def wrk(args, token: str, requests: list, server: subprocess.Popen) -> dict:
    """The load from wrk (C, one event loop a thread): it leaves the cores to the server,
    where 16 Python clients took 0.5-0.7 of the machine's 2 cores."""
    path = Path(f"/tmp/premia-wrk-{os.getpid()}.lua")
    path.write_text(
        WRK_SCRIPT
        % {
            "paths": _lua_list([p for p, _ in requests]),
            "bodies": _lua_list([b for _, b in requests]),
            "prefix": uuid.uuid4().hex,
        }
    )
    command = [
        "wrk",
        "--threads",
        "2",
        "--connections",
        str(args.clients),
        "--duration",
        f"{int(args.seconds)}s",
        "--timeout",
        "10s",
        "--header",
        f"Authorization: Bearer {token}",
        "--header",
        "Content-Type: application/json",
        "--script",
        str(path),
        f"http://127.0.0.1:{args.port}",
    ]
    before, cpu_before = _children_cpu(), server_cpu(server)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    server_seconds = server_cpu(server) - cpu_before
    path.unlink()
    if done.returncode != 0:
        raise SystemExit(f"wrk failed: {done.stderr[-2000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    seconds = figures["microseconds"] / 1e6
    errors = figures["status"] + figures["socket"]
    return {
        "requests": figures["requests"],
        "per_second": (figures["requests"] - errors) / seconds,
        "p50_ms": figures["p50"] / 1000,
        "p99_ms": figures["p99"] / 1000,
        "errors": errors,
        "statuses": {"not 2xx/3xx": figures["status"], "socket": figures["socket"]},
        "client_cpu": (_children_cpu() - before) / seconds,
        "server_cpu": server_seconds / seconds,
    }


def load(args, token: str, requests: list, server: subprocess.Popen) -> dict:
    if args.load == "wrk":
        return wrk(args, token, requests, server)
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
    begin = "BEGIN with the first statement" if engine.dialect.dispatch.do_execute else "BEGIN"
    trips: list = []
    returned: list[int] = []

    def statement(_conn, cursor, sql, params, _context, _many) -> None:
        if getattr(cursor.connection, "_pipeline", None) is not None:
            # Sent in a pipeline with what follows (the outbox row with the COMMIT).
            trips.append(("(pipeline)", None))
        trips.append((sql, params))

    def result(_conn, cursor, sql, _params, _context, _many) -> None:
        if " RETURNING " in sql and cursor.description:
            # The ids the ORM reads back and may send again (an entry's id in its lot).
            returned.append(cursor.fetchone()[0])
            cursor.scroll(-1)

    listeners = [
        (engine, "before_cursor_execute", statement),
        (engine, "after_cursor_execute", result),
        # BEGIN leaves with the first statement where the engine pipelines them
        # (core.host.db): no round trip of its own then.
        (engine, "begin", lambda _conn: trips.append((begin, None))),
        (engine, "commit", lambda _conn: trips.append(("COMMIT", None))),
        (engine, "rollback", lambda _conn: trips.append(("ROLLBACK", None))),
    ]
    if engine.pool._pre_ping:  # a round trip of its own at every check-out
        listeners.append(
            (engine.pool, "checkout", lambda *_a: trips.append(("(pool checkout: ping)", None)))
        )
    client = app.test_client()
    headers = {"Authorization": f"Bearer {data['token']}"}
    for _ in range(3):  # warm up: the token kept by the process from its third request
        client.post(
            f"/api/v1/customers/{data['codes'][1]}/points",
            json={"amount": "45000"},
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        )
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


# The statements' values that change from one earn to the next, replaced in the
# rendered SQL by pgbench expressions (see `replay_script`).
MEMBER_MARK = 987_654_321
RETURNED_MARK = 900_000_000
KEY_MARK = "KEYMARK"
CODE_MARK = "CODEMARK"
NOW_MARK = "1999-09-09 09:09:09+00"


def replay_script(url: str, captured: dict, member_id: int, tenant_id: int) -> str:
    """The captured round trips as a pgbench script: one transaction per earn, each
    statement as our request sent it, with a random customer, a fresh key and the ids
    returned by earlier statements (`\\gset`) where the request sent them back."""
    if member_id in captured["returned"]:
        raise SystemExit("capture on another customer: its id equals a returned id")
    lines = [
        f"\\set m random(1, :members) + {captured['first_id'] - 1}",
        "\\set k random(1, 1000000000000000)",
    ]
    seen = 0
    pipelined = False
    with psycopg.connect(libpq(url)) as conn:
        cursor = psycopg.ClientCursor(conn)
        for sql, params in captured["trips"]:
            if params is None:
                if sql in ("BEGIN", "COMMIT", "ROLLBACK"):
                    lines.append(sql + ";")
                    if pipelined:
                        lines.append("\\endpipeline")
                        pipelined = False
                elif sql == "(pipeline)":
                    lines.append("\\startpipeline")
                    pipelined = True
                elif sql.startswith("BEGIN with"):
                    lines += ["\\startpipeline", "BEGIN;"]
                    pipelined = True
                elif sql.startswith("(pool checkout"):
                    lines.append("SELECT 1;")
                continue
            values = {}
            for name, value in params.items():
                if isinstance(value, str) and captured["key"] in value:
                    value = value.replace(captured["key"], KEY_MARK)
                elif isinstance(value, str) and value == captured["code"]:
                    value = CODE_MARK
                elif (
                    isinstance(value, int)
                    and not isinstance(value, bool)
                    and not name.startswith("tenant_id")
                ):
                    if value == member_id:
                        value = MEMBER_MARK
                    elif value in captured["returned"][:seen]:
                        value = RETURNED_MARK + captured["returned"].index(value)
                elif hasattr(value, "tzinfo"):
                    value = NOW_MARK
                values[name] = value
            text = re.sub(r"\s+", " ", cursor.mogrify(sql, values))
            # pgbench reads ":name" as a variable, inside literals too (the outbox row's
            # compact JSON has ":true"): a space keeps it text, at the same cost.
            text = re.sub(r"'(?:[^']|'')*'", lambda m: re.sub(r":(?=[A-Za-z_])", ": ", m[0]), text)
            text = re.sub(rf"'([^']*){KEY_MARK}([^']*)'", r"('\1' || :k || '\2')", text)
            text = text.replace(
                f"'{CODE_MARK}'",
                f"(SELECT code FROM memberships WHERE tenant_id = {tenant_id} AND id = :m)",
            )
            text = text.replace(f"'{NOW_MARK}'", "now()").replace(str(MEMBER_MARK), ":m")
            text = re.sub(
                rf"\b{RETURNED_MARK // 1000}(\d{{3}})\b", lambda g: f":r{int(g[1])}_id", text
            )
            returning = " RETURNING " in sql
            lines.append(text + (f" \\aset r{seen}_" if returning else ";"))
            seen += returning
            if pipelined and lines[-2] == "BEGIN;":  # BEGIN's pipeline ends with its statement
                lines.append("\\endpipeline")
                pipelined = False
    return "\n".join(lines) + "\n"


MINIMAL_TABLES = """
DROP TABLE IF EXISTS minimal_audit, minimal_entries, minimal_balances;
CREATE TABLE minimal_balances (id integer PRIMARY KEY, balance bigint NOT NULL);
CREATE TABLE minimal_entries (id bigserial PRIMARY KEY, balance_id integer NOT NULL
    REFERENCES minimal_balances, points integer NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE minimal_audit (id bigserial PRIMARY KEY, balance_id integer NOT NULL,
    action text NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO minimal_balances SELECT n, 10000000 FROM generate_series(1, %(rows)s) AS n;
"""

# The least an earn can be in SQL, fixed (not a replay of ours: that would rise as ours
# improve and hide the gain): lock the balance row, insert the entry, update the
# balance, insert an audit row.
MINIMAL_EARN = """\\set m random(1, :members)
BEGIN;
SELECT balance FROM minimal_balances WHERE id = :m FOR UPDATE;
INSERT INTO minimal_entries (balance_id, points, created_at) VALUES (:m, 45, now());
UPDATE minimal_balances SET balance = balance + 45 WHERE id = :m;
INSERT INTO minimal_audit (balance_id, action, created_at) VALUES (:m, 'earn', now());
COMMIT;
"""


# The minimal earn's statements, as they are, on the tables an earn writes (the member,
# the ledger entry, the outbox row instead of an audit row): the floor any earn on this
# schema starts from; the gap from `minimal` to it is the schema's, from it to `replay`
# what our earn adds (the purchase, the lot, the stored answer).
FLOOR_EARN = """\\set m random(1, :members) + :first
BEGIN;
SELECT balance FROM memberships WHERE tenant_id = :tenant AND id = :m FOR UPDATE;
INSERT INTO ledger_entries (tenant_id, member_id, kind, points, balance_after, actor_kind,
    actor_id, confirmed_large, created_at) VALUES (:tenant, :m, 'earn', 45, 1, 'token', 1,
    false, now());
UPDATE memberships SET balance = balance + 45 WHERE tenant_id = :tenant AND id = :m;
INSERT INTO outbox (tenant_id, created_at, body) VALUES (:tenant, now(), '{"a": []}');
COMMIT;
"""


# The same writes, each in one round trip (BEGIN, the statement and COMMIT in one
# pipeline): what round trips cost the ceiling and the floor. On this project's machines
# the floor's writes in one trip ran faster than the minimal in six: an earn that sends
# its writes at once can pass the minimal on this schema; what keeps ours below is what
# it writes besides (the `parts` scenarios measure each).
MINIMAL_ONE_TRIP = """\\set m random(1, :members)
\\startpipeline
BEGIN;
WITH b AS (UPDATE minimal_balances SET balance = balance + 45 WHERE id = :m RETURNING id),
e AS (INSERT INTO minimal_entries (balance_id, points, created_at) SELECT id, 45, now() FROM b)
INSERT INTO minimal_audit (balance_id, action, created_at) SELECT id, 'earn', now() FROM b;
COMMIT;
\\endpipeline
"""
FLOOR_ONE_TRIP = """\\set m random(1, :members) + :first
\\startpipeline
BEGIN;
WITH m AS (UPDATE memberships SET balance = balance + 45 WHERE tenant_id = :tenant AND id = :m
    RETURNING balance),
e AS (INSERT INTO ledger_entries (tenant_id, member_id, kind, points, balance_after, actor_kind,
    actor_id, confirmed_large, created_at) SELECT :tenant, :m, 'earn', 45, m.balance, 'token', 1,
    false, now() FROM m RETURNING id)
INSERT INTO outbox (tenant_id, created_at, body) SELECT :tenant, now(), '{"a": []}' FROM e;
COMMIT;
\\endpipeline
"""

# The tables an earn writes, whose foreign keys `no_fk` drops for its run.
EARN_TABLES = ("purchases", "ledger_entries", "ledger_lots", "api_idempotent_responses", "outbox")


def replay_without(replay: str, part: str) -> str:
    """The replay with one part of our earn taken out (or its round trips joined), to
    measure what that part costs (`parts`). The captured SQL is ours: a change of its
    shape stops the bench here rather than measure something else."""

    def cut(text: str, pattern: str, by: str = "") -> str:
        done, n = re.subn(pattern, by, text, flags=re.S)
        if not n:
            raise SystemExit(f"parts: {part}: the captured earn no longer has {pattern!r}")
        return done

    if part == "no_answer":
        # The Idempotency-Key's stored answer: its read with the member's lock, its row.
        answer = "api_idempotent_responses"
        done = cut(replay, rf" LEFT OUTER JOIN {answer} ON .*? WHERE ", " WHERE ")
        done = cut(done, rf", {answer}\.\w+(?: AS \w+)?")
        return cut(
            done,
            r", along_row AS \(.*?\) SELECT (p\.id, e\.id, e\.balance_after), "
            r"\(SELECT count\(\*\) FROM along_row\)",
            r" SELECT \1, 0 AS answer",
        )
    if part == "no_lot":
        return cut(replay, r"lots AS \( INSERT INTO ledger_lots .*?\), (along_row AS \()", r"\1")
    if part == "no_outbox":
        return cut(replay, r"\nINSERT INTO outbox [^\n]*")
    if part in ("redesigned", "stripped"):
        # All three at once: what a sale writing only the floor's rows and sending them
        # in two round trips would cost (the foreign keys and totals go too in `stripped`).
        done = replay
        for each in ("no_lot", "no_answer", "two_trips"):
            done = replay_without(done, each)
        return done
    if part == "two_trips":
        # The earn's statement sent in one pipeline with the outbox row and COMMIT.
        done = cut(
            replay,
            r"\n( ?WITH p AS [^\n]*?) \\aset r0_\n\\startpipeline\n",
            "\n\\\\startpipeline\n\\1;\n",
        )
        if ":r0_" in done:
            raise SystemExit("parts: two_trips: a later statement reads the earn's result")
        return done
    return replay


@contextmanager
def foreign_keys_dropped(url: str, dropped: bool) -> Iterator[None]:
    """The foreign keys of the tables an earn writes dropped for a run (`no_fk`: what
    their checks cost), and put back (checked again) after it."""
    if not dropped:
        yield
        return
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        keys = conn.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)",
            [list(EARN_TABLES)],
        ).fetchall()
        for table, name, _definition in keys:
            conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    try:
        yield
    finally:
        with psycopg.connect(libpq(url), autocommit=True) as conn:
            for table, name, definition in keys:
                conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def minimal_tables(url: str, rows: int) -> None:
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(MINIMAL_TABLES.replace("%(rows)s", str(int(rows))))


@contextmanager
def totals_kept(url: str, kept: bool) -> Iterator[None]:
    """member_totals' triggers on (as always) or off for the untallied replay."""
    if kept:
        yield
        return
    triggers = (
        "member_totals_insert",
        "member_totals_update",
        "member_totals_delete",
    )
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        for name in triggers:
            conn.execute(f"ALTER TABLE memberships DISABLE TRIGGER {name}")
    try:
        yield
    finally:
        with psycopg.connect(libpq(url), autocommit=True) as conn:
            for name in triggers:
                conn.execute(f"ALTER TABLE memberships ENABLE TRIGGER {name}")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pgbench(args, script: str, members: int) -> dict:
    """Run a pgbench script with `args.clients` clients for `args.seconds`."""
    path = Path(f"/tmp/premia-script-{os.getpid()}.sql")
    path.write_text(script)
    database = libpq(args.database_url)
    command = [
        "pgbench",
        "--no-vacuum",
        "--client",
        str(args.clients),
        # Prepared statements, as psycopg prepares a statement sent 5 times; and the
        # extended protocol, which a pipeline needs.
        "--protocol",
        "prepared",
        "--jobs",
        "2",
        "--time",
        str(int(args.seconds)),
        "--define",
        f"members={members}",
        "--file",
        str(path),
        "--log",
        "--log-prefix",
        f"/tmp/premia-bench-{os.getpid()}",
        database,
    ]
    before = _children_cpu()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"pgbench failed: {done.stderr[-2000:]}")
    tps = float(re.search(r"tps = ([\d.]+)", done.stdout)[1])
    latencies, failed = [], 0
    for log in Path("/tmp").glob(f"premia-bench-{os.getpid()}.*"):
        for line in log.read_text().splitlines():
            fields = line.split()
            if fields[2] in ("failed", "skipped"):
                failed += 1
            else:
                latencies.append(int(fields[2]) / 1e6)
        log.unlink()
    latencies.sort()
    return {
        "requests": len(latencies),
        "per_second": tps,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
        "errors": failed,
        "statuses": {},
        "client_cpu": (_children_cpu() - before) / args.seconds,
        "server_cpu": 0.0,
    }


def vacuum(url: str) -> None:
    """Every scenario starts from the same state. A thousand membership rows updated
    thousands of times a minute by 16 clients keep their pages pinned, so their dead
    row versions are never pruned; without this, each scenario ran slower than the
    one before, whichever it was (a real merchant's members are not this few)."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


# In the order each round runs them.
SCENARIOS = ("earn", "bare", "least", "minimal", "floor", "replay", "untallied", "hot", "redeem")
# What each part of our earn's SQL costs (`--only parts`, or by name; not in the default
# run): the replay without it, against the replay in the same round.
PARTS = (
    "no_answer",
    "no_lot",
    "no_outbox",
    "no_fk",
    "two_trips",
    "redesigned",
    "stripped",
    "floor_1trip",
    "minimal_1trip",
)

BARE_PATH = "/bench/bare"
LEAST_PATH = "/bench/least-earn"

# The minimal earn's statements as a Python web process sends them at the least: raw
# psycopg (statements prepared after their 5th use, as psycopg does), no ORM, no token,
# no rule, six round trips like pgbench's. One connection per worker, opened on its
# first request (after gunicorn forked it).
_least = threading.local()


def served_app() -> Any:
    """What gunicorn serves: the app, plus a bare JSON route (the same app, Flask and
    gunicorn with no work behind them) for the ceiling of a request."""
    app = create_app()

    def bare() -> Any:
        return jsonify(ok=True)

    def least_earn() -> Any:
        conn = getattr(_least, "conn", None)
        if conn is None:
            conn = _least.conn = psycopg.connect(libpq(os.environ["PREMIA_DATABASE_URL"]))
            _least.members = conn.execute("SELECT count(*) FROM minimal_balances").fetchone()[0]
            conn.commit()
        points = int(request.get_json()["amount"]) // 1000
        member = random.randint(1, _least.members)
        with conn.transaction():
            conn.execute("SELECT balance FROM minimal_balances WHERE id = %s FOR UPDATE", (member,))
            conn.execute(
                "INSERT INTO minimal_entries (balance_id, points, created_at)"
                " VALUES (%s, %s, now())",
                (member, points),
            )
            conn.execute(
                "UPDATE minimal_balances SET balance = balance + %s WHERE id = %s",
                (points, member),
            )
            conn.execute(
                "INSERT INTO minimal_audit (balance_id, action, created_at)"
                " VALUES (%s, 'earn', now())",
                (member,),
            )
        return jsonify(points=points)

    for path, view in ((BARE_PATH, bare), (LEAST_PATH, least_earn)):
        app.add_url_rule(path, f"bench_{view.__name__}", view, methods=["POST"])
        app.extensions["csrf"].exempt(view)  # a POST like the earn's, without a form's token
    return app


def earn_in_process(client: Any, data: dict, n: int) -> None:
    """The earn's request through the test client, on the `n`th customer, a new key."""
    codes = data["codes"]
    response = client.post(
        f"/api/v1/customers/{codes[n % len(codes)]}/points",
        json={"amount": "45000"},
        headers={"Authorization": f"Bearer {data['token']}", "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.get_data(as_text=True)


def process_cpu_ratio(app: Any, data: dict, requests: int) -> dict:
    """Python CPU (process time) per earn and per bare request, in this process through
    the test client, alternated; with the cProfile of the earns when asked."""
    client = app.test_client()

    def earn(n: int) -> None:
        earn_in_process(client, data, n)

    def bare(_n: int) -> None:
        assert client.post(BARE_PATH, json={"amount": "45000"}).status_code == 200

    for n in range(50):  # warm: statement caches, pools, queues
        earn(n)
        bare(n)
    rounds = []
    for _round in range(3):
        timed = {}
        for name, fn in (("bare", bare), ("earn", earn)):
            started = time.process_time()
            for n in range(requests):
                fn(n)
            timed[name] = (time.process_time() - started) / requests
        rounds.append(timed)
    ratios = sorted(r["earn"] / r["bare"] for r in rounds)
    return {"rounds": rounds, "ratio": ratios[1]}


def profile_earns(app: Any, data: dict, requests: int, sort: str = "cumulative") -> str:
    import cProfile
    import io
    import pstats

    client = app.test_client()
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for n in range(requests):
        earn_in_process(client, data, n)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(sort).print_stats(60)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="earn and ceilings, alternated")
    # The README's production command: sync workers, two per core.
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--load",
        choices=("wrk", "python"),
        default="wrk",
        help="the HTTP load generator: wrk (Debian's package), or 16 http.client processes",
    )
    parser.add_argument("--show-sql", action="store_true", help="print one earn's statements")
    parser.add_argument("--cpu-requests", type=int, default=400, help="in-process CPU sample")
    parser.add_argument("--profile", action="store_true", help="cProfile the earn in-process")
    parser.add_argument(
        "--profile-sort",
        default="cumulative",
        help="the profile's order: cumulative, or tottime for a flat profile",
    )
    parser.add_argument(
        "--only",
        help=f"comma-separated: {','.join(SCENARIOS)},cpu (default all of these); "
        f"parts (minimal, replay and {','.join(PARTS)}), or any of those",
    )
    args = parser.parse_args()
    everything = {*SCENARIOS, "cpu"}
    only = set(args.only.split(",")) if args.only else everything
    if "parts" in only:
        only |= {"minimal", "replay", *PARTS}

    fresh_database(args.database_url)
    Redis.from_url(args.redis_url).flushdb()  # this run's jobs and rate-limit counters only
    os.environ["PREMIA_DATABASE_URL"] = args.database_url
    os.environ["PREMIA_REDIS_URL"] = args.redis_url
    os.environ["PREMIA_API_RATE_LIMIT"] = "100000000/minute"
    app = served_app()
    with app.app_context():
        upgrade(app)
        data = setup(app, args.customers)
        with tenant_session(app.extensions["premia"].sessions, data["tenant_id"]) as session:
            members = list(
                session.execute(select(Membership.id, Membership.code).order_by(Membership.id))
            )
        if [m[0] for m in members] != list(range(members[0][0], members[0][0] + len(members))):
            raise SystemExit("member ids are not consecutive: the replay draws them by number")
        member_id, code = members[-1]
        captured = capture(app, data, code)
        captured["first_id"] = members[0][0]
        cpu = process_cpu_ratio(app, data, args.cpu_requests) if "cpu" in only else None
        profile = (
            profile_earns(app, data, args.cpu_requests, args.profile_sort) if args.profile else None
        )
    app.extensions["premia"].engine.dispose()
    replay = replay_script(args.database_url, captured, member_id, data["tenant_id"])
    minimal_tables(args.database_url, len(members))
    trips = [sql for sql, _params in captured["trips"]]
    statements = [sql for sql, params in captured["trips"] if params is not None]
    if args.show_sql:
        for sql, params in captured["trips"]:
            print(re.sub(r"\s+", " ", sql)[:300], "" if params is None else params)
        print("--- as replayed by pgbench:\n" + replay)
    if profile:
        print(profile)
    alone = [
        sql
        for sql in trips
        if sql not in statements and not sql.startswith("BEGIN with") and sql != "(pipeline)"
    ]
    # A statement in a pipeline with the next (the outbox row with COMMIT) is no trip.
    riding = trips.count("(pipeline)")
    print(
        f"one earn request: {len(statements) + len(alone) - riding} round trips to PostgreSQL "
        f"({len(statements)} statements, {riding} of them pipelined with the next; "
        f"{', '.join(alone)})"
    )

    results: dict[str, list[dict]] = {}
    names = {
        "earn": "earn, 1,000 customers",
        "bare": "bare JSON route (gunicorn)",
        "least": "least earn over HTTP (psycopg)",
        "minimal": "minimal SQL earn (pgbench)",
        "floor": "minimal SQL on our tables",
        "replay": "our earn's SQL (pgbench)",
        "untallied": "our earn's SQL, no totals kept",
        "no_answer": "our SQL, no stored answer",
        "no_lot": "our SQL, no lot",
        "no_outbox": "our SQL, no outbox row",
        "no_fk": "our SQL, no foreign keys",
        "two_trips": "our SQL in two round trips",
        "redesigned": "ours, no answer, lot; 2 trips",
        "stripped": "…and no foreign keys, totals",
        "floor_1trip": "floor in one round trip",
        "minimal_1trip": "minimal in one round trip",
        "hot": "earn, one hot customer",
        "redeem": "redeem, 1,000 customers",
    }
    server = start_gunicorn(args, args.redis_url)
    try:
        codes, reward = data["codes"], data["reward_id"]
        earn = json.dumps({"amount": "45000"})
        http = {
            "earn": [(f"/api/v1/customers/{c}/points", earn) for c in codes],
            "bare": [(BARE_PATH, earn)],
            "least": [(LEAST_PATH, earn)],
            "hot": [(f"/api/v1/customers/{codes[0]}/points", earn)],
            "redeem": [
                (f"/api/v1/customers/{c}/redemptions", json.dumps({"reward_id": reward}))
                for c in codes
            ],
        }
        floor = FLOOR_EARN.replace(":first", str(members[0][0] - 1)).replace(
            ":tenant", str(data["tenant_id"])
        )
        scripts = {"minimal": MINIMAL_EARN, "floor": floor, "replay": replay, "untallied": replay}
        scripts |= {part: replay_without(replay, part) for part in PARTS}
        scripts["floor_1trip"] = FLOOR_ONE_TRIP.replace(":first", str(members[0][0] - 1)).replace(
            ":tenant", str(data["tenant_id"])
        )
        scripts["minimal_1trip"] = MINIMAL_ONE_TRIP
        # The earn and its ceilings alternate, round after round: on a shared machine the
        # speed of the cores drifts from one minute to the next, and a ratio of two
        # figures taken minutes apart would measure the drift.
        # A fresh worker's first requests fill its caches (the token, compiled statements,
        # the program's settings): not what a till meets all day, and they fell in the
        # first round's tail. Sent first, unmeasured.
        warm = argparse.Namespace(**{**vars(args), "seconds": 3})
        for key in ("earn", "bare", "least", "redeem"):
            if key in only:
                load(warm, data["token"], http[key], server)
        for round_ in range(args.rounds):
            for key in SCENARIOS + PARTS:
                if key not in only or (key in ("hot", "redeem") and round_):
                    continue
                vacuum(args.database_url)
                if key in scripts:
                    with (
                        totals_kept(args.database_url, key not in ("untallied", "stripped")),
                        foreign_keys_dropped(args.database_url, key in ("no_fk", "stripped")),
                    ):
                        result = pgbench(args, scripts[key], len(members))
                else:
                    result = load(args, data["token"], http[key], server)
                results.setdefault(names[key], []).append(result)
    finally:
        stop_gunicorn(server)

    print(
        f"{args.clients} clients ({args.load}), {args.seconds:g} s each, {args.rounds} rounds; "
        "gunicorn "
        f"{args.worker_class} {args.workers} workers × {args.threads} threads; load average "
        f"at the end: {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'scenario':<32}{'requests':>9}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'errors':>7}{'server cpu':>11}{'client cpu':>11}"
    )
    for name, runs in results.items():
        for n, r in enumerate(runs, 1):
            label = f"{name} ({n})" if len(runs) > 1 else name
            print(
                f"{label:<32}{r['requests']:>9}{r['per_second']:>8.0f}{r['p50_ms']:>8.1f}"
                f"{r['p99_ms']:>8.1f}{r['errors']:>7}{r['server_cpu']:>11.2f}"
                f"{r['client_cpu']:>11.2f}"
            )
            if r["errors"] and r["statuses"]:
                print("   statuses:", r["statuses"])

    def ratios(top: str, bottom: str, target: str) -> None:
        if names[top] in results and names[bottom] in results:
            each = [
                a["per_second"] / b["per_second"]
                for a, b in zip(results[names[top]], results[names[bottom]], strict=True)
            ]
            print(
                f"{names[top]} / {names[bottom]}, round by round: "
                + ", ".join(f"{r:.1%}" for r in each)
                + f"; median {statistics.median(each):.1%} ({target})"
            )

    ratios("earn", "minimal", "target ≥ 10%")
    ratios("earn", "bare", "for the record")
    ratios(
        "least",
        "minimal",
        "the most any earn over HTTP reaches on this stack and machine: the target's reach",
    )
    ratios("earn", "least", "our earn against that least one")
    ratios("replay", "minimal", "target ≥ 100%")
    ratios("floor", "minimal", "the schema's own cost: the minimal's statements on our tables")
    ratios("replay", "floor", "what our earn adds to that floor")
    ratios("replay", "untallied", "the cost of keeping member_totals")
    for part in PARTS[:7]:
        ratios(part, "replay", "our earn's SQL without that part, against it whole")
    ratios("redesigned", "minimal", "without giving up a key or the totals: the reach")
    ratios("stripped", "minimal", "with all of it gone: what the target asks")
    ratios("floor_1trip", "minimal", "the floor's writes sent at once, against the ceiling")
    ratios("minimal_1trip", "minimal", "the ceiling's own writes sent at once")
    if names["earn"] in results:
        p99 = statistics.median(r["p99_ms"] for r in results[names["earn"]])
        print(f"earn p99, median of rounds: {p99:.0f} ms (target < 50 ms)")
    if cpu:
        each = ", ".join(
            f"{r['earn'] * 1000:.2f} / {r['bare'] * 1000:.3f} ms" for r in cpu["rounds"]
        )
        print(
            f"Python CPU in-process, earn / bare route ({args.cpu_requests} each, 3 rounds): "
            f"{each}; median ratio {cpu['ratio']:.1f}× (target ≤ 18×)"
        )
    print("cpu columns: cores used (gunicorn workers; load generator or pgbench)")


if __name__ == "__main__":
    main()
