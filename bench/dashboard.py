"""The dashboard (Inicio) over a large ledger: the daily roll-up and the page itself.

    python bench/dashboard.py --members 1000000 --entries 10000000 \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_dash
    python bench/dashboard.py --reuse --database-url ...   # the data set built before

Builds the data set of bench/dataset.py (one merchant in Bogotá, entries spread
over ~15 months), lays the ledger out in the order a live one has (a day's entries
written that day, side by side: `CLUSTER` by (tenant_id, created_at), once), then,
on PostgreSQL, with the clock at 23:30 of a busy day (`TODAY`, ~26,000 entries that
day) and the hourly job last run 59 minutes before (the most of today the page counts
live: 1 h 44 min of entries, ~1,900):

1. the page with nothing rolled up yet (every day of the range counted from the
   ledger: what a merchant sees before the hourly job's first run);
2. the hourly job's first run (`roll_up_all`: every closed day since the first
   entry), its next run (nothing new), and the hourly audit (`figures.audit_all`:
   the last stored day and a sample recounted);
3. the page for 30 days and 365 days ending today and a custom range of closed
   days, `--requests` times each, in `--rounds` rounds alternated with the baseline:
   a bare logged-in panel page (Mi perfil: login, tenant resolution, the base
   template, no figures), so a loaded machine shows as a ratio; p50 and p99 of wall
   time, the garbage collector's passes meanwhile, then CPU (Python, PostgreSQL) per
   page. The process's heap is settled first as gunicorn's entry point settles it
   (`core.settle_heap`);
4. each statement of each range's page, the median of its time over the requests;
5. the kept totals checked against the full count.

`--on-replica` reads the pages on a streaming replica made for the run (core.testing's
`start_replica`: `pg_basebackup` of the whole server, so keep other large databases
off it), as `PREMIA_DATABASE_REPLICA_URL` makes Inicio do; the roll-up is written on
the primary and the pages wait until the replica has replayed it.

`--reuse` skips building when the database already holds the data set.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import os
import re
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy import delete, event, func, select

from bench.dataset import TIMEZONE, build, connect, describe, make_app
from core import settle_heap
from core.host.db import clock_at, platform_session, tenant_session
from core.host.migrate import upgrade
from core.loyalty import figures, member_totals
from core.loyalty.figures import DailyFigure, OpenDayFigures, roll_up_all
from core.loyalty.members import Membership
from tenants.models import Tenant

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_dash"
# "Now" for the page: 23:30 in Bogotá on a day of the data set's busy stretch (~26,000
# entries that day; the data set also holds the day's last half hour, counted live too).
TODAY = datetime(2026, 7, 16, 4, 30, tzinfo=UTC)
BARE = "/t/bench/panel/profile/"


def clustered(url: str) -> None:
    """Lay the ledger out as a live one is (entries appended as they happen, a day's
    side by side): the data set writes them member by member, so a day's 26,000 entries
    would sit on 24,000 pages, a cost no merchant's page pays. Once per database."""
    with connect(url) as conn:
        done = conn.execute(
            "SELECT indisclustered FROM pg_index WHERE indexrelid = "
            "'ix_ledger_entries_tenant_id_created_at'::regclass"
        ).fetchone()[0]
        if done:
            return
        began = time.monotonic()
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("CLUSTER ledger_entries USING ix_ledger_entries_tenant_id_created_at")
        conn.execute("VACUUM (ANALYZE) ledger_entries")
        print(f"ledger clustered by (tenant_id, created_at) in {time.monotonic() - began:.0f} s")


def timed(client, path: str, repeat: int, cpu: list[float] | None = None) -> list[float]:
    """Wall ms of each request; with `cpu`, each one's CPU ms of this process appended
    there too (what a loaded machine's waits for a core do not move: its tail is the
    page's own, a garbage collection or a slow path)."""
    times = []
    for _ in range(repeat):
        began, used = time.perf_counter(), time.process_time()
        answer = client.get(path)
        times.append((time.perf_counter() - began) * 1000)
        if cpu is not None:
            cpu.append((time.process_time() - used) * 1000)
        assert answer.status_code == 200, answer.status_code
    return times


def p99(times: list[float]) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[98]


def server_cpu(monitor: psycopg.Connection) -> float:
    """CPU seconds used so far by the database's other backends (the app's connections;
    nothing else connects to a bench database), read from /proc: the server is local."""
    total = 0
    for (pid,) in monitor.execute(
        "SELECT pid FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    ):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def page_cpu(client, monitor, path: str, repeat: int = 20) -> tuple[float, float]:
    """(Python, PostgreSQL) CPU ms per page, the mean of `repeat` requests: what a loaded
    machine's wall clock hides (a page waits for a core)."""
    client.get(path)
    python, server = time.process_time(), server_cpu(monitor)
    for _ in range(repeat):
        assert client.get(path).status_code == 200
    return (
        (time.process_time() - python) * 1000 / repeat,
        (server_cpu(monitor) - server) * 1000 / repeat,
    )


@contextmanager
def statements(engine) -> Iterator[list[tuple[str, float]]]:
    """Each statement run meanwhile: (its first words, ms)."""
    seen: list[tuple[str, float]] = []

    def before(conn, cursor, statement, parameters, context, many):
        context.bench_began = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, many):
        words = " ".join(statement.split())
        seen.append((words[:90], (time.perf_counter() - context.bench_began) * 1000))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


@contextmanager
def collections() -> Iterator[dict[int, list[float]]]:
    """The garbage collector's passes meanwhile: ms of each, by generation."""
    seen: dict[int, list[float]] = defaultdict(list)
    began = [0.0]

    def watch(phase: str, info: dict) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            seen[info["generation"]].append((time.perf_counter() - began[0]) * 1000)

    gc.callbacks.append(watch)
    try:
        yield seen
    finally:
        gc.callbacks.remove(watch)


def full_count(session) -> member_totals.Totals:
    """What Inicio read before member_totals: one pass over the memberships."""
    members, points = session.execute(
        select(func.count(Membership.id), func.coalesce(func.sum(Membership.balance), 0))
    ).one()
    return member_totals.Totals(members, points)


def statement_ms(session, read, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        read(session)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--requests", type=int, default=40, help="per range and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--on-replica", action="store_true", help="pages read on a replica")
    args = parser.parse_args()
    replica = None
    if args.on_replica:
        from core.testing.replica import start_replica

        made = start_replica(args.database_url)
        replica = made.__enter__()
        atexit.register(made.__exit__, None, None, None)
        os.environ["PREMIA_DATABASE_REPLICA_URL"] = replica.url  # read by the app's config
        print(f"pages read on a streaming replica on port {replica.port}")
    if args.reuse:
        app = make_app(args.database_url)
        with app.app_context():
            upgrade(app)  # a data set built before this code's migrations
            with platform_session(app.extensions["premia"].sessions) as s:
                tenant_id = s.scalar(select(Tenant.id).where(Tenant.slug == "bench"))
    else:
        app, tenant_id = build(args.database_url, args.members, args.entries)
    # As gunicorn's entry point does (core:create_app): what lives as long as the process
    # is out of the collector's full passes.
    settle_heap()
    clustered(args.database_url)
    counts = describe(args.database_url, tenant_id)
    print(f"data set: {counts['members']:,} members, {counts['entries']:,} entries")
    platform = app.extensions["premia"]
    with app.app_context(), platform_session(platform.sessions) as session:
        session.execute(delete(DailyFigure))
        session.execute(delete(OpenDayFigures))
        session.commit()

    # Measure the job itself: the embedded scheduler must not run it alongside.
    platform.jobs.start_scheduler = lambda _app: None
    clock = clock_at(TODAY)
    clock.__enter__()
    client = app.test_client()
    page = client.get("/t/bench/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    logged = client.post(
        "/t/bench/login",
        data={"email": "owner@bench.example", "password": "bench-password", "csrf_token": token},
    )
    assert logged.status_code == 302, "login failed"

    today = TODAY.astimezone(ZoneInfo(TIMEZONE)).date()
    ranges = {
        "30 days": (today - timedelta(days=29), today),
        "365 days": (today - timedelta(days=364), today),
        "custom (111 closed days)": (today - timedelta(days=200), today - timedelta(days=90)),
    }
    paths = {label: f"/t/bench/panel/?since={a}&until={b}" for label, (a, b) in ranges.items()}
    rows = []
    for label, repeat in (("30 days", 3), ("365 days", 1)):
        took = statistics.median(timed(client, paths[label], repeat))
        rows.append((f"page, {label}, nothing rolled up (counted live)", took))
    with app.app_context():
        # The job ran 59 minutes ago and its next run is due: the most of today that the
        # page counts live (the hour since, and the job's GRACE).
        for label, moment in (
            ("roll_up_all, first run ({} days stored)", TODAY - timedelta(minutes=60)),
            ("roll_up_all, next run (the open day since)", TODAY - timedelta(minutes=59)),
        ):
            began = time.perf_counter()
            days = roll_up_all(moment.isoformat())
            rows.append((label.format(days), (time.perf_counter() - began) * 1000))
        began = time.perf_counter()
        repaired = figures.audit_all()
        rows.append(
            (
                f"figures.audit_all ({figures.AUDITED_DAYS} days recounted, {repaired} repaired)",
                (time.perf_counter() - began) * 1000,
            )
        )
    for label in rows:
        print(f"{label[0]:<62}{label[1]:>10.0f} ms")

    if replica is not None:
        replica.wait_caught_up()
        before = replica_transactions(replica)
    # The pages, alternated with the baseline in each round.
    walls: dict[str, list[float]] = defaultdict(list)
    cpus: dict[str, list[float]] = defaultdict(list)
    profile: dict[str, list[list[tuple[str, float]]]] = defaultdict(list)
    for label in ("bare page (Mi perfil)", *paths):
        timed(client, paths.get(label, BARE), 3)  # warm: the process's caches
    with collections() as pauses:
        for _round in range(args.rounds):
            for label in ("bare page (Mi perfil)", *paths):
                path = paths.get(label, BARE)
                for _ in range(args.requests):
                    engine = platform.replica.engine if replica is not None else platform.engine
                    with statements(engine) as seen:
                        walls[label] += timed(client, path, 1, cpus[label])
                    profile[label].append(list(seen))
    if replica is not None:
        done = replica_transactions(replica) - before
        # PostgreSQL's statistics, flushed at most once a second: a floor, not a count.
        print(f"transactions the replica counted during the pages: {done:,}")
    bare = statistics.median(walls["bare page (Mi perfil)"])
    print(f"\n{'wall, ' + str(args.rounds * args.requests) + ' requests each':<40}"
          f"{'p50':>9}{'p99':>9}{'p50/bare':>10}{'SQL p50':>9}{'stmts':>7}"
          f"{'CPU p50':>10}{'CPU p99':>10}")  # fmt: skip
    for label, times in walls.items():
        sql = statistics.median(sum(ms for _w, ms in one) for one in profile[label])
        count = len(profile[label][-1])
        print(
            f"{label:<40}{statistics.median(times):>6.1f} ms{p99(times):>6.1f} ms"
            f"{statistics.median(times) / bare:>9.2f}×{sql:>6.1f} ms{count:>7}"
            f"{statistics.median(cpus[label]):>7.1f} ms{p99(cpus[label]):>7.1f} ms"
        )
    for generation, times in sorted(pauses.items()):
        print(
            f"garbage collector, generation {generation}: {len(times)} passes during the pages, "
            f"{sum(times):.1f} ms in all, the longest {max(times):.1f} ms"
        )
    with connect(args.database_url) as monitor:
        column = "PostgreSQL" if replica is None else "primary's"  # not the replica's
        print(f"\n{'CPU per page, mean of 20 requests':<40}{'Python':>10}{column:>12}")
        for _round in range(args.rounds):
            for label in ("bare page (Mi perfil)", *paths):
                python, server = page_cpu(client, monitor, paths.get(label, BARE))
                print(f"{label:<40}{python:>7.1f} ms{server:>9.1f} ms")
    for label in paths:
        print(f"\nstatements of the page, {label} (median ms over the requests):")
        runs = [one for one in profile[label] if len(one) == len(profile[label][-1])]
        for position, (words, _ms) in enumerate(runs[-1]):
            median = statistics.median(one[position][1] for one in runs)
            print(f"  {median:>7.2f}  {words}")
    clock.__exit__(None, None, None)
    with app.app_context(), tenant_session(platform.sessions, tenant_id) as session:
        counted = statement_ms(session, full_count)
        kept = statement_ms(session, member_totals.current)
        print(f"\nthe full count alone: {counted:.0f} ms, member_totals.current: {kept:.1f} ms")
        drift = member_totals.audit(session)
        session.rollback()
    print("member_totals against the full count:", "equal" if drift is None else drift)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    platform.engine.dispose()


def replica_transactions(replica: Any) -> int:
    """Transactions the replica's server has ended in the bench's database (reads: the
    pages'; a standby runs no others of ours)."""
    with replica.connect() as conn:
        return conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database"
            " WHERE datname = current_database()"
        ).fetchone()[0]


if __name__ == "__main__":
    main()
