"""Load benchmark of brands' own domains under gunicorn + PostgreSQL: the reverse proxy's
`ask` endpoint, and a page served on a brand's domain beside the same page under
`/t/<slug>/`, with a bare route of the same app in the same run.

    python bench/domains.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_domains --seconds 10

Creates (or empties) the database, migrates it and adds `--brands` merchants (10,000) on
the white-label plan, each served on its own domain (rows written directly: the ask and
the resolver read `tenants.domain` only). Starts gunicorn on loopback as bench/app.py
does, then for `--seconds` per scenario has `--clients` concurrent clients (8, one
process each, plain http.client) send:

  bare         GET /favicon.ico: a redirect, no database (the app's floor)
  ask served   GET /.well-known/premia/domain-check?domain=<a random brand's domain>: 200
  ask unknown  GET …?domain=<a random name no brand has>: 404, what a scan of names costs
  slug login   GET /t/<random slug>/login on the platform host: the staff login page
  brand login  GET /login with Host: <that brand's domain>: the same page through the
               domain middleware's lookup

The scenarios alternate for `--rounds` rounds. Prints requests per second, p50/p99 and
each scenario's throughput as a share of the bare route's, and brand login's as a share
of slug login's (the cost of serving on an own domain). Figures go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from redis import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api import fresh_database, gather, start_gunicorn, stop_gunicorn, vacuum  # noqa: E402
from core.app import create_app  # noqa: E402
from core.host.db import platform_session  # noqa: E402
from core.host.migrate import upgrade  # noqa: E402
from tenants.models import Tenant  # noqa: E402
from tenants.services import get_plan  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_domains"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
ASK = "/.well-known/premia/domain-check?domain="


def setup(app, brands: int) -> None:
    platform = app.extensions["premia"]
    with platform_session(platform.sessions) as session:
        plan = get_plan(session, "white-label")
        session.add_all(
            Tenant(
                slug=f"b{n:05d}",
                name=f"Marca {n}",
                country="CO",
                currency="COP",
                timezone="America/Bogota",
                domain=f"puntos.marca{n:05d}.example",
                plan=plan,
            )
            for n in range(brands)
        )
        session.commit()


def requests_for(name: str, brands: int, rng: random.Random) -> tuple[str, str]:
    """(Host, path) of one request of scenario `name`."""
    n = rng.randrange(brands)
    if name == "bare":
        return "127.0.0.1", "/favicon.ico"
    if name == "ask served":
        return "127.0.0.1", f"{ASK}puntos.marca{n:05d}.example"
    if name == "ask unknown":
        return "127.0.0.1", f"{ASK}x{rng.getrandbits(48):x}.example"
    if name == "slug login":
        return "127.0.0.1", f"/t/b{n:05d}/login"
    return f"puntos.marca{n:05d}.example", "/login"


EXPECTED = {
    "bare": 301,
    "ask served": 200,
    "ask unknown": 404,
    "slug login": 200,
    "brand login": 200,
}


def client(port: int, name: str, brands: int, start_at: float, stop_at: float, n: int, out):
    rng = random.Random(n)
    conn = http.client.HTTPConnection("127.0.0.1", port)
    latencies, statuses = [], Counter()
    time.sleep(max(0, start_at - time.time()))
    cpu = time.process_time()
    while time.time() < stop_at:
        host, path = requests_for(name, brands, rng)
        started = time.perf_counter()
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        # The expected answer counts as success (a 404 is the ask's "no").
        statuses[200 if response.status == EXPECTED[name] else response.status] += 1
    out.send((latencies, statuses, time.process_time() - cpu))
    out.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--brands", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--port", type=int, default=8767)
    args = parser.parse_args()

    started = time.monotonic()
    fresh_database(args.database_url)
    Redis.from_url(args.redis_url).flushdb()
    app = create_app({"PREMIA_DATABASE_URL": args.database_url, "PREMIA_REDIS_URL": args.redis_url})
    with app.app_context():
        upgrade(app)
        setup(app, args.brands)
    app.extensions["premia"].engine.dispose()
    print(f"data: {args.brands} brands on their own domains, in {time.monotonic() - started:.0f} s")

    results: dict[str, list[dict]] = {}
    server = start_gunicorn(args, args.redis_url)
    try:
        for _round in range(args.rounds):
            for name in EXPECTED:
                vacuum(args.database_url)
                start_at = time.time() + 0.5
                results.setdefault(name, []).append(
                    gather(
                        args,
                        client,
                        (args.port, name, args.brands),
                        start_at,
                        start_at + args.seconds,
                        server,
                    )
                )
    finally:
        stop_gunicorn(server)

    print(
        f"{args.clients} clients, {args.seconds:g} s each, {args.rounds} rounds; gunicorn "
        f"{args.worker_class} {args.workers} workers × {args.threads} threads; load average "
        f"at the end: {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'scenario':<18}{'requests':>9}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'errors':>7}{'server cpu':>11}{'client cpu':>11}"
    )
    for name, runs in results.items():
        for n, r in enumerate(runs, 1):
            print(
                f"{f'{name} ({n})':<18}{r['requests']:>9}{r['per_second']:>8.0f}"
                f"{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}{r['errors']:>7}"
                f"{r['server_cpu']:>11.2f}{r['client_cpu']:>11.2f}"
            )
            if r["errors"]:
                print("   statuses:", r["statuses"])
    pairs = [(name, "bare") for name in EXPECTED if name != "bare"]
    for name, base in [*pairs, ("brand login", "slug login")]:
        ratios = [
            a["per_second"] / b["per_second"]
            for a, b in zip(results[name], results[base], strict=True)
        ]
        print(
            f"{name} / {base}, round by round: "
            + ", ".join(f"{r:.0%}" for r in ratios)
            + f"; median {statistics.median(ratios):.0%}"
        )
    print("cpu columns: cores used (gunicorn workers; load generator)")


if __name__ == "__main__":
    main()
