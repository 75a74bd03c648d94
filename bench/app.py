"""Load benchmark of the customer app: the shared home and a merchant's history page
under gunicorn + PostgreSQL, beside a bare route of the same app in the same run.

    python bench/app.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_app \\
        --seconds 15

Creates (or empties) the database, migrates it and fills it through the services:
`--merchants` merchants (20) in Bogotá whose points expire after 12 months, and
`--people` people (16), each a member of every merchant, with `--entries` entries
(200) at the first merchant and 3 at each other one, earned over the last year (so
some points expire soon, and the home shows them). Each person gets a customer app
session as the sign-in page would open it. Starts gunicorn on loopback as the
README runs it (bench/api.py's server: sync workers, 4), then for `--seconds` per
scenario has `--clients` concurrent clients (16, one process each, plain
http.client, one person's cookie each) send:

  bare      GET /favicon.ico: a redirect, no database, no session (the app's floor)
  healthz   GET /healthz: one round trip to PostgreSQL and one to Redis, JSON
  home      GET /app/: the shared home, 20 cards (name, balance, points expiring soon)
  history   GET /t/m00/app/history: the newest 20 of the person's 200 entries there

The scenarios alternate for `--rounds` rounds (the speed of a shared machine's cores
drifts) and the database is vacuumed before each. Before the load, one request of
each page runs in-process with its statements counted. Prints requests per second,
p50/p99, errors, the cores used by gunicorn and by the clients, and each page's
throughput as a share of the bare route's, per round and the median. Figures go in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from flask import g
from redis import Redis
from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api import (  # noqa: E402
    fresh_database,
    gather,
    start_gunicorn,
    stop_gunicorn,
    vacuum,
)
from core.app import create_app  # noqa: E402
from core.customer_app.sessions import COOKIE, log_in  # noqa: E402
from core.host.actors import Actor  # noqa: E402
from core.host.db import clock_at, platform_session, tenant_session, utcnow  # noqa: E402
from core.host.migrate import upgrade  # noqa: E402
from core.loyalty import ledger  # noqa: E402
from core.loyalty.customers import create_member  # noqa: E402
from core.loyalty.locations import create_location  # noqa: E402
from core.loyalty.members import Customer  # noqa: E402
from core.loyalty.program import update_program  # noqa: E402
from tenants.services import create_tenant  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_app"
DEFAULT_REDIS = "redis://127.0.0.1:6379/8"
STAFF = Actor.staff(1)
PAGES = {
    "bare": "/favicon.ico",
    "healthz": "/healthz",
    "home": "/app/",
    "history": "/t/m00/app/history",
}


# --- the data --------------------------------------------------------------


def setup(app, args) -> list[str]:
    """The merchants, the people and their entries; returns each person's cookie."""
    platform = app.extensions["premia"]
    tenant_ids = []
    with platform_session(platform.sessions) as session:
        for n in range(args.merchants):
            tenant = create_tenant(
                session,
                slug=f"m{n:02d}",
                name=f"Merchant {n:02d}",
                plan="white-label",
                currency="COP",
                country="CO",
                timezone="America/Bogota",
                owner_email=f"owner@m{n:02d}.example",
                owner_password="bench-password",
            )
            session.flush()
            tenant_ids.append(tenant.id)
        session.commit()
    now = utcnow()
    for n, tenant_id in enumerate(tenant_ids):
        entries = args.entries if n == 0 else 3
        with tenant_session(platform.sessions, tenant_id) as session:
            update_program(session, {"expiry_months": 12})
            location = create_location(session, name="Centro")
            session.flush()
            for person in range(args.people):
                member = create_member(
                    session, email=f"p{person}@bench.example", actor=STAFF, first_name="P"
                )
                for k in range(entries):
                    # Spread over the last year: the oldest expire within the month.
                    with clock_at(now - timedelta(days=360 * (k + 1) / entries)):
                        ledger.earn(
                            session,
                            member,
                            points=10 + k,
                            actor=STAFF,
                            location_id=location.id,
                            description="bench",
                        )
                session.commit()
    cookies = []
    with app.test_request_context(), platform_session(platform.sessions) as session:
        for person in range(args.people):
            customer = session.query(Customer).filter_by(email=f"p{person}@bench.example").one()
            log_in(session, customer)
            cookies.append(f"{COOKIE}={g.customer_cookie}")
        session.commit()
    return cookies


def statements(app, cookie: str) -> dict[str, int]:
    """The statements one request of each page sends (after a first, warming one)."""
    engine = app.extensions["premia"].engine
    client = app.test_client()
    client.set_cookie(COOKIE, cookie.split("=", 1)[1], domain="localhost")
    counts = {}
    for name, path in PAGES.items():
        seen: list[str] = []

        def before(_conn, _cursor, sql, *_args, seen=seen) -> None:
            seen.append(sql)

        assert client.get(path).status_code in (200, 301)
        event.listen(engine, "before_cursor_execute", before)
        try:
            assert client.get(path).status_code in (200, 301)
        finally:
            event.remove(engine, "before_cursor_execute", before)
        counts[name] = len(seen)
    return counts


# --- the load --------------------------------------------------------------


def client(port: int, path: str, cookies: list, start_at: float, stop_at: float, n: int, out):
    """One keep-alive connection, one person's cookie, GET `path` until `stop_at`."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Cookie": cookies[n % len(cookies)]}
    latencies, statuses = [], Counter()
    time.sleep(max(0, start_at - time.time()))
    cpu = time.process_time()
    while time.time() < stop_at:
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        # The bare route answers a redirect; the pages 200. A 302 to the sign-in page
        # would mean the session was lost: counted apart.
        ok = response.status == 200 or (path == PAGES["bare"] and response.status == 301)
        statuses[200 if ok else response.status] += 1
    out.send((latencies, statuses, time.process_time() - cpu))
    out.close()


def load(args, path: str, cookies: list, server) -> dict:
    start_at = time.time() + 0.5
    return gather(
        args, client, (args.port, path, cookies), start_at, start_at + args.seconds, server
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--merchants", type=int, default=20)
    parser.add_argument("--people", type=int, default=16)
    parser.add_argument("--entries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()

    started = time.monotonic()
    fresh_database(args.database_url)
    Redis.from_url(args.redis_url).flushdb()
    app = create_app({"PREMIA_DATABASE_URL": args.database_url, "PREMIA_REDIS_URL": args.redis_url})
    with app.app_context():
        upgrade(app)
        cookies = setup(app, args)
    counts = statements(app, cookies[0])  # outside: each request has its own context
    app.extensions["premia"].engine.dispose()
    print(
        f"data: {args.merchants} merchants, {args.people} people in each, {args.entries} "
        f"entries each at the first, in {time.monotonic() - started:.0f} s"
    )
    print("statements per request: " + ", ".join(f"{k} {v}" for k, v in counts.items()))

    results: dict[str, list[dict]] = {}
    server = start_gunicorn(args, args.redis_url)
    try:
        for _round in range(args.rounds):
            for name, path in PAGES.items():
                vacuum(args.database_url)
                results.setdefault(name, []).append(load(args, path, cookies, server))
    finally:
        stop_gunicorn(server)

    print(
        f"{args.clients} clients, {args.seconds:g} s each, {args.rounds} rounds; gunicorn "
        f"{args.worker_class} {args.workers} workers × {args.threads} threads; load average "
        f"at the end: {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'scenario':<16}{'requests':>9}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'errors':>7}{'server cpu':>11}{'client cpu':>11}"
    )
    for name, runs in results.items():
        for n, r in enumerate(runs, 1):
            print(
                f"{f'{name} ({n})':<16}{r['requests']:>9}{r['per_second']:>8.0f}"
                f"{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}{r['errors']:>7}"
                f"{r['server_cpu']:>11.2f}{r['client_cpu']:>11.2f}"
            )
            if r["errors"]:
                print("   statuses:", r["statuses"])
    for name in ("home", "history"):
        for base in ("bare", "healthz"):
            ratios = [
                page["per_second"] / floor["per_second"]
                for page, floor in zip(results[name], results[base], strict=True)
            ]
            print(
                f"{name} / {base}, round by round: "
                + ", ".join(f"{r:.0%}" for r in ratios)
                + f"; median {statistics.median(ratios):.0%}"
            )
    print("cpu columns: cores used (gunicorn workers; load generator)")


if __name__ == "__main__":
    main()
