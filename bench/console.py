"""Benchmark of the operator console's merchant list: the figures it shows per merchant
(members, points in circulation, last activity, plugins switched off) over a large
merchant, beside the plain list of merchants (the CLI's `tenant list` query) in the
same run.

    python bench/console.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_console \\
        --members 200000 --entries 1000000

Builds bench/dataset.py's data set (one merchant with `--members` members and
`--entries` ledger entries) and adds `--others` (99) small merchants through the
services, each with 3 members. Then, `--repeat` (30) times each, alternating:

  plain     the first 100 merchants by name, nothing else (the floor)
  list      the console's list: the same 100 merchants with their figures
  merchant  one merchant's page figures (the large one)

and prints the median and p90 milliseconds, the statements each runs, and each one's
time as a multiple of the plain list's. Figures go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import event, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dataset import build, make_app
from core.host.actors import Actor
from core.host.db import platform_session, tenant_session
from core.loyalty.customers import create_member
from core.operator import merchants
from tenants.models import Tenant
from tenants.services import create_tenant


def add_others(app, count: int) -> None:
    sessions = app.extensions["premia"].sessions
    with app.app_context():
        for n in range(count):
            with platform_session(sessions) as session:
                tenant = create_tenant(
                    session,
                    slug=f"other-{n:03d}",
                    name=f"Other {n:03d}",
                    plan="bench",  # the data set's plan: no plugin, no e-mail
                    currency="COP",
                    country="CO",
                    timezone="America/Bogota",
                    owner_email=f"owner@other{n}.example",
                    owner_password="bench-password-1",
                )
                session.commit()
            with tenant_session(sessions, tenant.id) as session:
                for m in range(3):
                    create_member(session, email=f"c{m}@other{n}.example", actor=Actor.system())
                session.commit()


def timed(app, work) -> tuple[float, int]:
    engine = app.extensions["premia"].engine
    statements = 0

    def count(*_args) -> None:
        nonlocal statements
        statements += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        with app.app_context(), platform_session(app.extensions["premia"].sessions) as s:
            started = time.perf_counter()
            work(s)
            elapsed = time.perf_counter() - started
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return elapsed * 1000, statements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/bench_console"
    )
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--others", type=int, default=99)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument(
        "--reuse", action="store_true", help="time the data set a previous run left"
    )
    args = parser.parse_args()

    if args.reuse:
        app = make_app(args.database_url)
        with platform_session(app.extensions["premia"].sessions) as session:
            big_id = session.scalar(select(Tenant.id).where(Tenant.slug == "bench"))
    else:
        app, big_id = build(args.database_url, args.members, args.entries)
        add_others(app, args.others)
    plugins = app.extensions["premia"].plugins
    with app.extensions["premia"].engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")

    def plain(session) -> None:
        session.scalars(select(Tenant).order_by(Tenant.name, Tenant.id).limit(100)).all()

    def listing(session) -> None:
        rows = merchants.search(session, plugins)
        assert len(rows) == min(100, args.others + 1)

    def one(session) -> None:
        (row,) = merchants.rows_for(session, plugins, [session.get(Tenant, big_id)])
        assert row.members == args.members

    scenarios = {"plain": plain, "list": listing, "merchant": one}
    times: dict[str, list[float]] = {name: [] for name in scenarios}
    statements: dict[str, int] = {}
    for work in scenarios.values():  # warm-up
        timed(app, work)
    for _ in range(args.repeat):
        for name, work in scenarios.items():
            elapsed, count = timed(app, work)
            times[name].append(elapsed)
            statements[name] = count
    floor = statistics.median(times["plain"])
    print(f"{args.members:,} members, {args.entries:,} entries at one merchant; {args.others} more")
    print(f"{'scenario':<10}{'median ms':>11}{'p90 ms':>9}{'statements':>12}{'× plain':>9}")
    for name, values in times.items():
        median = statistics.median(values)
        p90 = sorted(values)[int(len(values) * 0.9) - 1]
        print(f"{name:<10}{median:>11.2f}{p90:>9.2f}{statements[name]:>12}{median / floor:>9.1f}")


if __name__ == "__main__":
    main()
