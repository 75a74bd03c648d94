"""The tiers plugin's period-end re-evaluation over the data set of bench/dataset.py.

    python bench/tiers.py --members 1000000 --entries 10000000 \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_expiry

Builds the data set (dropped and created again; `--reuse` takes the one there, which
must have been built with the tiers plugin installed: it fills `tiers_members`), puts
the merchant on a plan with the plugin, sets three tiers (Plata from 0, Oro from
300,000 COP, Negro from 1,000,000 COP in the calendar month, downgrade at period
end), then measures `plugins.tiers.services.reevaluate(session, as_of)` and the
commit in a tenant session for the period end of 1 November 2026 in Bogotá: wall
time, the peak RSS of this process, PostgreSQL's temporary bytes, and the members
whose tier changed. `--rollback` rolls it back, to measure again with `--reuse`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import dataset
from bench.expiry import measure, peak_rss_mib
from core.host.db import platform_session, tenant_session
from plugins.tiers.services import reevaluate
from tenants.models import Plan, Tenant
from tenants.services import set_plan_plugins

TIERS = {
    "tiers": [
        {"code": "silver", "name": "Plata", "multiplier": "1", "threshold": "0"},
        {"code": "gold", "name": "Oro", "multiplier": "1.2", "threshold": "300000"},
        {"code": "black", "name": "Negro", "multiplier": "1.5", "threshold": "1000000"},
    ],
    "period": "month",
    "downgrade": "period_end",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=dataset.DEFAULT_URL)
    parser.add_argument("--history-days", type=int, default=450)
    parser.add_argument("--reuse", action="store_true", help="keep the data set already there")
    parser.add_argument("--rollback", action="store_true", help="roll the re-evaluation back")
    args = parser.parse_args()
    url = args.database_url
    if args.reuse:
        app = dataset.make_app(url)
    else:
        app, _tenant_id = dataset.build(
            url, args.members, args.entries, plugins={"tiers"}, history=args.history_days
        )
    platform = app.extensions["premia"]
    with app.app_context():
        with platform_session(platform.sessions) as session:
            set_plan_plugins(session, session.query(Plan).filter_by(code="bench").one(), {"tiers"})
            tenant_id = session.query(Tenant.id).filter_by(slug="bench").scalar()
            session.commit()
        with tenant_session(platform.sessions, tenant_id) as session:
            platform.plugins.save_settings(session, "tiers", TIERS)
            session.commit()
        with dataset.connect(url) as conn:
            rows = conn.execute(
                "SELECT tier, count(*) FROM tiers_members WHERE tenant_id = %s"
                " GROUP BY tier ORDER BY 1",
                (tenant_id,),
            ).fetchall()
            if not rows:
                raise SystemExit("no tiers_members rows: build the data set with tiers installed")
        shape = dataset.describe(url, tenant_id)
        print(", ".join(f"{name} {value:,}" for name, value in shape.items()))
        print("tiers before:", ", ".join(f"{tier} {n:,}" for tier, n in rows))
        print(f"{'step':<10}{'wall':>11}{'peak RSS':>14}{'PG temp':>10}   result")
        print(f"{'start':<10}{'':>11}{peak_rss_mib():>10.0f} MiB")

        def run() -> str:
            with tenant_session(platform.sessions, tenant_id) as session:
                changed = reevaluate(session, dataset.AS_OF)
                session.rollback() if args.rollback else session.commit()
            return f"{changed:,} members changed tier"

        measure("tiers", url, run)
        with dataset.connect(url) as conn:
            rows = conn.execute(
                "SELECT tier, count(*) FROM tiers_members WHERE tenant_id = %s"
                " GROUP BY tier ORDER BY 1",
                (tenant_id,),
            ).fetchall()
        print("tiers after: ", ", ".join(f"{tier} {n:,}" for tier, n in rows))
    platform.engine.dispose()


if __name__ == "__main__":
    main()
