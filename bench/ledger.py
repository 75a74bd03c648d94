"""Ledger throughput on PostgreSQL: the service layer, in one process, with threads.

    python bench/ledger.py [--seconds 10] [--threads 16] [--members 1000]

Creates (or empties) the database `premia_bench` on 127.0.0.1 (override with
PREMIA_BENCH_DATABASE_URL), migrates it, creates one merchant with N members,
then for a bounded time has T threads each run one transaction per operation:
earning on random members, earning on one hot member (every operation waits
for the same row lock), and redeeming. Prints operations per second and
p50/p99 latency. Figures go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

import psycopg
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.app import create_app
from core.host.actors import Actor
from core.host.db import make_engine, make_sessionmaker, platform_session, tenant_session
from core.host.errors import InsufficientPoints
from core.host.migrate import upgrade
from core.loyalty import ledger
from core.loyalty.customers import create_member
from core.loyalty.members import Membership
from tenants.services import create_tenant

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/premia_bench"
STAFF = Actor.staff(1)


def fresh_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup(app, members: int) -> tuple[int, list[int]]:
    platform = app.extensions["premia"]
    with platform_session(platform.sessions) as session:
        tenant = create_tenant(
            session,
            slug="bench",
            name="Bench",
            plan="free",
            currency="COP",
            country="CO",
            timezone="America/Bogota",
            owner_email="owner@bench.example",
            owner_password="bench-password",
        )
        session.commit()
        tenant_id = tenant.id
    with tenant_session(platform.sessions, tenant_id) as session:
        platform.plugins.switch(session, tenant, "notifications", False)  # measure the ledger
        for n in range(members):
            create_member(session, email=f"m{n}@bench.example", actor=STAFF)
        session.commit()
        ids = list(session.scalars(select(Membership.id)))
    return tenant_id, ids


def run(app, factory, tenant_id: int, threads: int, seconds: float, operation) -> dict:
    latencies: list[float] = []
    refused = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    barrier = threading.Barrier(threads)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        mine, mine_refused = [], 0
        barrier.wait()
        with app.app_context():
            mine_refused = loop(rng, mine)
        with lock:
            latencies.extend(mine)
            refused[0] += mine_refused

    def loop(rng: random.Random, mine: list[float]) -> int:
        mine_refused = 0
        while time.monotonic() < stop:
            started = time.perf_counter()
            with tenant_session(factory, tenant_id) as session:
                try:
                    operation(session, rng)
                    session.commit()
                except InsufficientPoints:
                    session.rollback()
                    mine_refused += 1
            mine.append(time.perf_counter() - started)
        return mine_refused

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    began = time.monotonic()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(seconds + 60)
    elapsed = time.monotonic() - began
    latencies.sort()
    return {
        "ops": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "refused": refused[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--members", type=int, default=1000)
    args = parser.parse_args()
    url = os.environ.get("PREMIA_BENCH_DATABASE_URL", DEFAULT_URL)
    fresh_database(url)
    app = create_app({"PREMIA_DATABASE_URL": url, "PREMIA_REDIS_URL": None})
    with app.app_context():
        upgrade(app)
        tenant_id, member_ids = setup(app, args.members)
        engine = make_engine(url, pool_size=args.threads + 2, max_overflow=0)
        factory = make_sessionmaker(engine)
        hot = member_ids[0]

        def earn_random(session, rng):
            member = session.get(Membership, rng.choice(member_ids))
            ledger.earn(session, member, points=rng.randint(1, 50), actor=STAFF)

        def earn_hot(session, rng):
            ledger.earn(session, session.get(Membership, hot), points=1, actor=STAFF)

        def redeem_random(session, rng):
            member = session.get(Membership, rng.choice(member_ids))
            ledger.redeem(session, member, rng.randint(1, 20), actor=STAFF)

        print(f"{args.threads} threads, {args.seconds:g} s each, {args.members} members")
        print(f"{'scenario':<28}{'ops':>8}{'ops/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'refused':>9}")
        for name, operation in [
            ("earn, random members", earn_random),
            ("earn, one hot member", earn_hot),
            ("redeem, random members", redeem_random),
        ]:
            r = run(app, factory, tenant_id, args.threads, args.seconds, operation)
            print(
                f"{name:<28}{r['ops']:>8}{r['per_second']:>10.0f}{r['p50_ms']:>10.1f}"
                f"{r['p99_ms']:>10.1f}{r['refused']:>9}"
            )
        with tenant_session(factory, tenant_id) as session:
            bad = [m for m in member_ids if len(set(ledger.audit_member(session, m))) != 1]
        print(
            "ledger audit:",
            "balance = entries = lots for every member"
            if not bad
            else f"MISMATCH for {len(bad)} members",
        )
        engine.dispose()


if __name__ == "__main__":
    main()
