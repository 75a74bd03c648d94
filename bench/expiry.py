"""The monthly expiry over a large data set on PostgreSQL: `expire_due` and the warnings.

    python bench/expiry.py --members 1000000 --entries 10000000 \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_expiry

Builds the data set of bench/dataset.py in that database (dropped and created again;
`--reuse` takes the one already there, as left by bench/dataset.py), then runs, as the
monthly job does, for the run of 1 November 2026 in Bogotá:

1. expire: `expiry.expire_lots(session, as_of)` as the job calls it (PREMIA_EXPIRY_PARTS
   ranges of members side by side, each `ledger.expire_due` and its commit);
2. again: the same call a second time (nothing is due any more: 0 entries);
3. warnings: `expiry.warning_pages` (one query numbering the members with points
   expiring in November, every 1,000th starting a page), then every page job queued
   as `expiry.warn_month` queues them, which the in-process runner runs at once
   (`expiry.warn_expiring`), each announcing `notify` per member to a plugin of
   this script that only counts them;
4. a set-based audit: for every member, balance = sum of entries = sum of remaining lots.

For each step: wall time, the peak RSS of this Python process (`resource`, the
maximum so far) and the bytes PostgreSQL spilled to temporary files. `--rollback`
rolls the expire step back instead of committing, so that it can be measured again on
the same data with `--reuse`. Figures go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import dataset
from core.host.db import platform_session, tenant_session
from core.host.plugins import PluginInfo, hookimpl
from core.loyalty import expiry
from tenants.models import Plan, Tenant
from tenants.services import set_plan_plugins
from worker.jobs import enqueue

PLUGIN = PluginInfo(
    name="benchcount",
    title="Bench counter",
    description="Counts the members told about expiring points.",
)
told = {"members": 0, "points": 0}


@hookimpl
def notify(tenant: Tenant, member: Any, topic: str, context: dict[str, Any]) -> None:
    if topic == "points_expiring":
        told["members"] += 1
        told["points"] += context["points"]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def temp_bytes(url: str) -> int:
    with dataset.connect(url) as conn:
        return conn.execute(
            "SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()[0]


def measure(name: str, url: str, step: Callable[[], Any]) -> Any:
    spilled = temp_bytes(url)
    began = time.perf_counter()
    result = step()
    elapsed = time.perf_counter() - began
    time.sleep(0.6)  # pg_stat_database is flushed by the backends about every 500 ms
    spilled = temp_bytes(url) - spilled
    print(
        f"{name:<10}{elapsed:>9.2f} s{peak_rss_mib():>10.0f} MiB"
        f"{spilled / 2**20:>10.0f} MiB   {result}",
        flush=True,
    )
    return result


def audit(url: str, tenant_id: int) -> int:
    """Members whose balance differs from the sum of their entries or of their lots."""
    with dataset.connect(url) as conn:
        return conn.execute(
            """
            SELECT count(*) FROM memberships m
            LEFT JOIN (SELECT member_id, sum(points) AS total FROM ledger_entries
                       WHERE tenant_id = %(t)s GROUP BY member_id) e ON e.member_id = m.id
            LEFT JOIN (SELECT member_id, sum(remaining) AS total FROM ledger_lots
                       WHERE tenant_id = %(t)s GROUP BY member_id) l ON l.member_id = m.id
            WHERE m.tenant_id = %(t)s
              AND (m.balance <> coalesce(e.total, 0) OR m.balance <> coalesce(l.total, 0))
        """,
            {"t": tenant_id},
        ).fetchone()[0]


def allow_counter(app: Any) -> int:
    """The data set's merchant, on a plan that lets this script hear `notify`."""
    with platform_session(app.extensions["premia"].sessions) as session:
        plan = session.query(Plan).filter_by(code="bench").one()
        set_plan_plugins(session, plan, {"benchcount"})
        tenant_id = session.query(Tenant.id).filter_by(slug="bench").scalar()
        session.commit()
    return tenant_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=dataset.DEFAULT_URL)
    parser.add_argument("--history-days", type=int, default=450)
    parser.add_argument("--reuse", action="store_true", help="keep the data set already there")
    parser.add_argument("--rollback", action="store_true", help="roll the expiry back")
    args = parser.parse_args()
    url, as_of = args.database_url, dataset.AS_OF
    this = sys.modules[__name__]
    if args.reuse:
        app = dataset.make_app(url, [this])
    else:
        app, _tenant_id = dataset.build(
            url, args.members, args.entries, extra_plugins=[this], history=args.history_days
        )
    platform = app.extensions["premia"]
    with app.app_context():
        tenant_id = allow_counter(app)
        shape = dataset.describe(url, tenant_id)
        print(", ".join(f"{name} {value:,}" for name, value in shape.items()))
        print(f"{'step':<10}{'wall':>11}{'peak RSS':>14}{'PG temp':>10}   result")
        print(f"{'start':<10}{'':>11}{peak_rss_mib():>10.0f} MiB")

        def expire() -> int:
            with tenant_session(platform.sessions, tenant_id) as session:
                written = expiry.expire_lots(session, as_of, commit=not args.rollback)
                session.rollback() if args.rollback else session.commit()
            return written

        def warnings() -> str:
            told.update(members=0, points=0)
            with tenant_session(platform.sessions, tenant_id) as session:
                tenant = session.get(Tenant, tenant_id)
                period = expiry.month_start(tenant, as_of).strftime("%Y-%m")
                pages = expiry.warning_pages(session, tenant, period)
                session.commit()
            for first_id, before_id in pages:  # as `warn_month` queues them: run here
                enqueue(None, expiry.warn_expiring, tenant_id, period, first_id, before_id)
            return (
                f"{len(pages)} pages, {told['members']:,} members told of {told['points']:,} points"
            )

        written = measure("expire", url, expire)
        if not args.rollback:
            measure("again", url, expire)
        measure("warnings", url, warnings)
        measure("audit", url, lambda: f"{audit(url, tenant_id)} members out of balance")
        if written != shape["members_due"]:
            raise SystemExit(f"expected {shape['members_due']} expire entries, got {written}")
    platform.engine.dispose()


if __name__ == "__main__":
    main()
