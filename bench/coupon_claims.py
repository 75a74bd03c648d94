"""Coupon claims on PostgreSQL against the ledger's plain earn, in one process, with threads.

    python bench/coupon_claims.py [--seconds 5] [--threads 16] [--members 4000]

Creates (or empties) the database `premia_bench_coupons` on 127.0.0.1 (override with
PREMIA_BENCH_DATABASE_URL), migrates it, creates one merchant with N members, a
campaign of single-use codes and one shared code without a stock limit, then runs,
one transaction per operation and T threads for a bounded time each:

* baseline: `ledger.earn` on random members with a system key (what a claim ends in);
* claiming single-use codes (each operation the next code, a random member);
* claiming the shared code (each operation the next member): every claim raises the
  same campaign row's `claimed`, so claims wait for each other on that row.

Prints operations per second, p50/p99 latency and each scenario's ratio to the
baseline measured in the same run. Figures go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import threading
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ledger import fresh_database, run, setup
from core.app import create_app
from core.host.actors import Actor
from core.host.db import make_engine, make_sessionmaker, platform_session, tenant_session
from core.host.migrate import upgrade
from core.loyalty import ledger
from core.loyalty.members import Membership
from plugins.coupons import campaigns, claims
from plugins.coupons.models import Campaign, Code
from tenants.models import Plan, Tenant

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/premia_bench_coupons"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--members", type=int, default=4000)
    args = parser.parse_args()
    url = os.environ.get("PREMIA_BENCH_DATABASE_URL", DEFAULT_URL)
    fresh_database(url)
    app = create_app({"PREMIA_DATABASE_URL": url, "PREMIA_REDIS_URL": None})
    with app.app_context():
        upgrade(app)
        tenant_id, member_ids = setup(app, args.members)
        with platform_session(app.extensions["premia"].sessions) as session:
            # White-label: no monthly limit on codes and shared claims.
            white = session.scalar(select(Plan).where(Plan.code == "white-label"))
            session.get(Tenant, tenant_id).plan_id = white.id
            session.commit()
        engine = make_engine(url, pool_size=args.threads + 2, max_overflow=0)
        factory = make_sessionmaker(engine)
        with tenant_session(factory, tenant_id) as session:
            tenant = session.get(Tenant, tenant_id)
            today = claims.local_today(tenant) - timedelta(days=1)
            common = {"points": 5, "starts_on": today, "ends_on": None}
            single = campaigns.create_campaign(
                session, tenant, name="Volante", kind="single", count=campaigns.MAX_CODES, **common
            )
            shared = campaigns.create_campaign(
                session, tenant, name="Compartido", kind="shared", **common
            )
            session.commit()
            single_codes = list(
                session.scalars(select(Code.id).where(Code.campaign_id == single.id))
            )
            shared_code = session.scalar(select(Code.id).where(Code.campaign_id == shared.id))
            single_id, shared_id = single.id, shared.id
        taking = threading.Lock()
        next_code, next_member, serial = iter(single_codes), iter(member_ids), itertools.count()

        def earn_baseline(session, rng):
            member = session.get(Membership, rng.choice(member_ids))
            key = ledger.system_key("bench", next(serial))
            ledger.earn(session, member, points=5, actor=ledger_actor, idempotency_key=key)

        def claim_single(session, rng):
            with taking:
                code_id = next(next_code)
            member = session.get(Membership, rng.choice(member_ids))
            claims.claim_as_member(
                session,
                tenant,
                member,
                session.get(Code, code_id),
                session.get(Campaign, single_id),
            )

        def claim_shared(session, rng):
            with taking:
                member_id = next(next_member)
            claims.claim_as_member(
                session,
                tenant,
                session.get(Membership, member_id),
                session.get(Code, shared_code),
                session.get(Campaign, shared_id),
            )

        ledger_actor = Actor.system()
        print(f"{args.threads} threads, {args.seconds:g} s each, {args.members} members")
        print(f"{'scenario':<34}{'ops':>8}{'ops/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'ratio':>8}")
        baseline = None
        for name, operation in [
            ("earn with a key (baseline)", earn_baseline),
            ("claim single-use codes", claim_single),
            ("claim one shared code", claim_shared),
        ]:
            r = run(app, factory, tenant_id, args.threads, args.seconds, operation)
            baseline = baseline or r["per_second"]
            print(
                f"{name:<34}{r['ops']:>8}{r['per_second']:>10.0f}{r['p50_ms']:>10.1f}"
                f"{r['p99_ms']:>10.1f}{r['per_second'] / baseline:>8.2f}"
            )
        with tenant_session(factory, tenant_id) as session:
            bad = [m for m in member_ids if len(set(ledger.audit_member(session, m))) != 1]
            counted = session.get(Campaign, shared_id).claimed
        print("ledger audit:", "sound for every member" if not bad else f"MISMATCH for {len(bad)}")
        print(f"shared code: {counted} claims counted on its campaign")
        engine.dispose()


if __name__ == "__main__":
    main()
