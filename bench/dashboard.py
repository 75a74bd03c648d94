"""The dashboard (Inicio) over a large ledger: the daily roll-up and the page itself.

    python bench/dashboard.py --members 1000000 --entries 10000000 \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_dashboard

Builds the data set of bench/dataset.py (one merchant in Bogotá, entries spread
over ~15 months), then measures, on PostgreSQL:

1. the page with nothing rolled up yet: every day of the range counted from the
   ledger (what a merchant would see before the hourly job's first run);
2. the hourly job's first run (`roll_up_all`): every closed day since the first
   entry, one grouped statement;
3. the hourly job's next run (nothing new to roll up);
4. the page again, reading `daily_figures` (and counting today live), for a
   30-day and a 365-day range: what a merchant sees every day; twice, alternated
   with the page as it was before `member_totals` (the customers and points
   outstanding counted over every membership), and each of those two reads alone;
   then the kept totals are checked against the full count.

Each page is requested through the real app (login, tenant resolution, the
template), the median of five requests. `--reuse` skips building when the
database already holds the data set.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy import delete, func, select

from bench.dataset import AS_OF, build, connect, describe, make_app
from core.host.db import platform_session, tenant_session
from core.loyalty import member_totals
from core.loyalty.figures import DailyFigure, roll_up_all
from core.loyalty.members import Membership
from core.panel import dashboard
from tenants.models import Tenant

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_dashboard"


def page_ms(client, since: str, until: str, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        answer = client.get(f"/t/bench/panel/?since={since}&until={until}")
        times.append((time.perf_counter() - began) * 1000)
        assert answer.status_code == 200, answer.status_code
    return statistics.median(times)


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


def page_cpu(client, monitor, since: str, until: str, repeat: int = 20) -> tuple[float, float]:
    """(Python, PostgreSQL) CPU ms per page, the mean of `repeat` requests: what a loaded
    machine's wall clock hides (a page waits for a core)."""
    path = f"/t/bench/panel/?since={since}&until={until}"
    client.get(path)
    python, server = time.process_time(), server_cpu(monitor)
    for _ in range(repeat):
        assert client.get(path).status_code == 200
    return (
        (time.process_time() - python) * 1000 / repeat,
        (server_cpu(monitor) - server) * 1000 / repeat,
    )


def full_count(session) -> member_totals.Totals:
    """What Inicio read before member_totals: one pass over the memberships."""
    members, points = session.execute(
        select(func.count(Membership.id), func.coalesce(func.sum(Membership.balance), 0))
    ).one()
    return member_totals.Totals(members, points)


@contextmanager
def counted_over_memberships() -> Iterator[None]:
    """Inicio as it was: the totals counted over every membership on each request."""
    kept = dashboard.member_totals.current
    dashboard.member_totals.current = full_count
    try:
        yield
    finally:
        dashboard.member_totals.current = kept


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
    args = parser.parse_args()
    if args.reuse:
        app = make_app(args.database_url)
        with app.app_context(), platform_session(app.extensions["premia"].sessions) as s:
            tenant_id = s.scalar(select(Tenant.id).where(Tenant.slug == "bench"))
    else:
        app, tenant_id = build(args.database_url, args.members, args.entries)
    counts = describe(args.database_url, tenant_id)
    print(f"data set: {counts['members']:,} members, {counts['entries']:,} entries")
    platform = app.extensions["premia"]
    with app.app_context(), platform_session(platform.sessions) as session:
        session.execute(delete(DailyFigure))
        session.commit()

    # Measure the job itself: the embedded scheduler must not run it alongside.
    platform.jobs.start_scheduler = lambda _app: None
    client = app.test_client()
    page = client.get("/t/bench/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    logged = client.post(
        "/t/bench/login",
        data={"email": "owner@bench.example", "password": "bench-password", "csrf_token": token},
    )
    assert logged.status_code == 302, "login failed"

    end = AS_OF.date() - timedelta(days=1)
    month = (str(end - timedelta(days=29)), str(end))
    year = (str(end - timedelta(days=364)), str(end))
    rows = []
    rows.append(("page, 30 days, nothing rolled up (counted live)", page_ms(client, *month)))
    rows.append(("page, 365 days, nothing rolled up (counted live)", page_ms(client, *year, 1)))
    with app.app_context():
        began = time.perf_counter()
        days = roll_up_all(datetime.now(UTC).isoformat())
        rows.append(
            (f"roll_up_all, first run ({days} days stored)", (time.perf_counter() - began) * 1000)
        )
        began = time.perf_counter()
        roll_up_all(datetime.now(UTC).isoformat())
        rows.append(("roll_up_all, next run (nothing new)", (time.perf_counter() - began) * 1000))
    # The page as it was before member_totals (one pass over the memberships for the
    # customers and points outstanding), then as it is, alternated, in this run.
    for _round in range(2):
        with counted_over_memberships():
            rows.append(("page, 30 days, totals counted (before)", page_ms(client, *month)))
            rows.append(("page, 365 days, totals counted (before)", page_ms(client, *year)))
        rows.append(("page, 30 days, from daily_figures + member_totals", page_ms(client, *month)))
        rows.append(("page, 365 days, from daily_figures + member_totals", page_ms(client, *year)))
    with connect(args.database_url) as monitor:
        cpu = []
        for _round in range(2):
            for label, span in (("30 days", month), ("365 days", year)):
                with counted_over_memberships():
                    cpu.append(
                        (
                            f"page, {label}, totals counted (before)",
                            page_cpu(client, monitor, *span),
                        )
                    )
                cpu.append((f"page, {label}, member_totals", page_cpu(client, monitor, *span)))
    with app.app_context(), tenant_session(platform.sessions, tenant_id) as session:
        rows.append(("the full count alone (before)", statement_ms(session, full_count)))
        rows.append(("member_totals.current alone", statement_ms(session, member_totals.current)))
        drift = member_totals.audit(session)
        session.rollback()
    print("member_totals against the full count:", "equal" if drift is None else drift)
    for label, ms in rows:
        print(f"{label:<55}{ms:>10.0f} ms")
    print(f"{'CPU per page, mean of 20 requests':<55}{'Python':>10}{'PostgreSQL':>12}")
    for label, (python, server) in cpu:
        print(f"{label:<55}{python:>7.1f} ms{server:>9.1f} ms")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    platform.engine.dispose()


if __name__ == "__main__":
    main()
