"""A large loyalty data set, generated set-based inside PostgreSQL, for the benchmarks.

    python bench/dataset.py --members 1000000 --entries 10000000 \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_expiry

(Re)creates the database, runs the real migrations (`core.host.migrate.upgrade`: every
constraint, foreign key, index and the ledger's append-only trigger stay on), creates
one merchant in Bogotá through the services, with a 12-month expiry and 1 point per
1,000 COP, then fills, in chunks of members, with `INSERT … SELECT` over
`generate_series` (no row goes through Python):

- one customer and one membership per member;
- `entries // members` ledger entries per member, each fifth a redemption of the
  lot earned just before it (allocation included), the others earns with a lot and
  a purchase (amount = points × 1,000 COP, `entries.purchase_id` set);
- the tiers plugin's row of each member when the plugin is installed (its table
  exists after the migrations);
- each member active for a stretch of 10 to 108 days that starts between
  `--history-days` (450) and ~110 days before `as_of` (the 1st of November 2026 in
  Bogotá). With 450, the November run expires 16% of the lots with points, of 22% of
  the members (three months of lots at once: a merchant's first run of a 12-month
  expiry, the heaviest); with 395 (13 months of history), 4% of the lots, of 9% of the
  members (a month's lots, as in every later month). About 20% of the members have
  lots expiring in November (warned) and 10% purchases in October (the tiers' closing
  month).

Balances are consistent: balance_after is a running sum, a membership's balance
equals the sum of its entries and of its lots' remaining points. The benchmarks
import `build` and `connect`.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.app import create_app
from core.host.db import platform_session, tenant_session
from core.host.migrate import upgrade
from core.loyalty.program import update_program
from tenants.models import Plan
from tenants.services import create_tenant, set_plan_plugins

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_expiry"
TIMEZONE = "America/Bogota"
AS_OF = datetime(2026, 11, 1, 5, tzinfo=UTC)  # midnight starting 1 November in Bogotá
CHUNK = 100_000  # members per statement: bounded transactions, progress to print


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(libpq_url(url), autocommit=True)


def fresh_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = libpq_url(url).rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def make_app(url: str, extra_plugins: list[ModuleType] | None = None) -> Any:
    """The app on `url`, jobs in-process (no Redis), with the benchmark's own plugins."""
    return create_app(
        {
            "PREMIA_DATABASE_URL": url,
            "PREMIA_REDIS_URL": None,
            "PREMIA_EXTRA_PLUGINS": extra_plugins or [],
        }
    )


def create_merchant(app: Any, plugins: set[str]) -> int:
    """The merchant, on a plan of its own allowing exactly `plugins`."""
    platform = app.extensions["premia"]
    with platform_session(platform.sessions) as session:
        plan = Plan(code="bench", name="bench")
        session.add(plan)
        session.flush()
        set_plan_plugins(session, plan, plugins & set(platform.plugins.infos))
        tenant = create_tenant(
            session,
            slug="bench",
            name="Bench",
            plan="bench",
            currency="COP",
            country="CO",
            timezone=TIMEZONE,
            owner_email="owner@bench.example",
            owner_password="bench-password",
        )
        session.commit()
        tenant_id = tenant.id
    with tenant_session(platform.sessions, tenant_id) as session:
        update_program(
            session, {"expiry_months": 12, "points_per_amount": {"points": 1, "amount": "1000"}}
        )
        session.commit()
    return tenant_id


BULK_TABLES = (
    "customers",
    "memberships",
    "purchases",
    "ledger_entries",
    "ledger_lots",
    "ledger_allocations",
)


def _has_tiers(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT to_regclass('tiers_members') IS NOT NULL").fetchone()[0]


def _secondary_schema(conn: psycopg.Connection) -> dict[str, list[tuple[str, str, str]]]:
    """The bulk tables' foreign keys (theirs and those pointing at them), unique
    constraints and plain indexes, as (table, name, definition): what a load
    drops and restores, as pg_restore does (primary keys and triggers stay)."""
    tables = list(BULK_TABLES) + (["tiers_members"] if _has_tiers(conn) else [])
    constraint = """SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
                    FROM pg_constraint c WHERE c.contype = %s AND {} ORDER BY 1, 2"""
    return {
        "foreign": conn.execute(
            constraint.format(
                "(c.conrelid::regclass::text = ANY(%s) OR c.confrelid::regclass::text = ANY(%s))"
            ),
            ("f", tables, tables),
        ).fetchall(),
        "unique": conn.execute(
            constraint.format("c.conrelid::regclass::text = ANY(%s)"), ("u", tables)
        ).fetchall(),
        "index": conn.execute(
            """
            SELECT i.tablename, i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.tablename = ANY(%s) AND NOT EXISTS (
                SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
            ORDER BY 1, 2""",
            (tables,),
        ).fetchall(),
    }


def _drop(conn: psycopg.Connection, schema: dict[str, list[tuple[str, str, str]]]) -> None:
    for table, name, _definition in schema["foreign"] + schema["unique"]:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for _table, name, _definition in schema["index"]:
        conn.execute(f'DROP INDEX "{name}"')


def _restore(conn: psycopg.Connection, schema: dict[str, list[tuple[str, str, str]]]) -> None:
    """Indexes, then unique constraints, then foreign keys (validated over every row)."""
    for _table, _name, definition in schema["index"]:
        conn.execute(definition)
    for table, name, definition in schema["unique"] + schema["foreign"]:
        conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def _points(j: str) -> str:
    """An earn's points at entry `j` of member `m`: 5 to 100, scattered."""
    return f"(5 + ((m::bigint * 2654435761 + ({j}) * 40503) %% 96))::int"


def _fill_chunk(
    conn: psycopg.Connection,
    tenant_id: int,
    lo: int,
    hi: int,
    k: int,
    as_of: datetime,
    tiers: bool,
    history: int,
) -> None:
    """Members lo..hi (1-based numbers in the data set) and their k entries each."""
    params = {"t": tenant_id, "lo": lo, "hi": hi, "k": k, "as_of": as_of, "history": history}
    # Numbers in the data set map to ids by fixed offsets (a fresh database: ids from 1).
    grid = f"""
        SELECT m, j,
               m AS member_id,
               (m - 1) * %(k)s + j + 1 AS entry_id,
               (j %% 5 = 4) AS is_redeem,
               (j %% 5 = 3 AND j + 1 < %(k)s) AS consumed,
               {_points("j")} AS earned,
               {_points("j - 1")} AS earned_before,
               %(as_of)s::timestamptz - %(history)s * interval '1 day'
                 + ((m::bigint * 7907) %% 1000) / 1000.0
                   * greatest(0, %(history)s - 10 - (%(k)s - 1) * (1 + m %% 12))
                   * interval '1 day'
                 + (m::bigint * 37 %% 86400) * interval '1 second'
                 + j * (1 + m %% 12) * interval '1 day' AS at
        FROM generate_series(%(lo)s::int, %(hi)s::int) AS m
        CROSS JOIN generate_series(0, %(k)s - 1) AS j
    """
    conn.execute(
        """
        INSERT INTO customers (id, email, first_name, last_name, created_at)
        SELECT m, 'm' || m || '@bench.example', '', '',
               %(as_of)s::timestamptz - interval '460 days'
        FROM generate_series(%(lo)s::int, %(hi)s::int) AS m
    """,
        params,
    )
    conn.execute(
        f"""
        INSERT INTO memberships (id, tenant_id, customer_id, code, first_name, last_name,
                                 balance, search_text, joined_via, created_at)
        SELECT m, %(t)s, m, 'B' || m, 'Cliente', m::text,
               (SELECT sum({_points("j")}) FROM generate_series(0, %(k)s - 1) AS j
                WHERE NOT (j %% 5 = 4) AND NOT (j %% 5 = 3 AND j + 1 < %(k)s)),
               'b' || m || ' m' || m || '@bench.example cliente ' || m, 'staff',
               %(as_of)s::timestamptz - interval '460 days'
        FROM generate_series(%(lo)s::int, %(hi)s::int) AS m
    """,
        params,
    )
    conn.execute(
        f"""
        INSERT INTO purchases (id, tenant_id, member_id, amount, status, actor_kind,
                               fingerprint, points, created_at)
        SELECT entry_id, %(t)s, member_id, earned * 1000, 'recorded', 'staff',
               md5(entry_id::text), earned, at
        FROM ({grid}) AS g WHERE NOT is_redeem
    """,
        params,
    )
    conn.execute(
        f"""
        INSERT INTO ledger_entries (id, tenant_id, member_id, kind, points, balance_after,
                                    actor_kind, purchase_id, created_at)
        SELECT entry_id, %(t)s, member_id, kind, points,
               sum(points) OVER (PARTITION BY m ORDER BY j), 'staff', purchase_id, at
        FROM (SELECT g.*,
                     CASE WHEN is_redeem THEN 'redeem' ELSE 'earn' END AS kind,
                     CASE WHEN is_redeem THEN -earned_before ELSE earned END AS points,
                     CASE WHEN is_redeem THEN NULL ELSE entry_id END AS purchase_id
              FROM ({grid}) AS g) AS e
        ORDER BY m, j
    """,
        params,
    )
    conn.execute(
        f"""
        INSERT INTO ledger_lots (id, tenant_id, member_id, entry_id, points, remaining,
                                 expires_at, created_at)
        SELECT entry_id, %(t)s, member_id, entry_id, earned,
               CASE WHEN consumed THEN 0 ELSE earned END, at + interval '12 months', at
        FROM ({grid}) AS g WHERE NOT is_redeem
    """,
        params,
    )
    conn.execute(
        f"""
        INSERT INTO ledger_allocations (tenant_id, entry_id, lot_id, points)
        SELECT %(t)s, entry_id, entry_id - 1, earned_before
        FROM ({grid}) AS g WHERE is_redeem
    """,
        params,
    )
    if tiers:
        # The tiers plugin's row of each member (one in 50 Black, one in 4 Gold, the rest
        # Silver), as left by the October upgrades: the November run re-evaluates them.
        conn.execute(
            """
            INSERT INTO tiers_members (id, tenant_id, member_id, tier, kept, since,
                                       evaluated_at)
            SELECT m, %(t)s, m, tier, tier, %(as_of)s::timestamptz - interval '1 month',
                   %(as_of)s::timestamptz - interval '1 month'
            FROM (SELECT m, CASE WHEN m %% 50 = 0 THEN 'black' WHEN m %% 4 = 0 THEN 'gold'
                                 ELSE 'silver' END AS tier
                  FROM generate_series(%(lo)s::int, %(hi)s::int) AS m) AS t
        """,
            params,
        )


def build(
    url: str,
    members: int,
    entries: int,
    *,
    plugins: set[str] = frozenset(),
    extra_plugins: list[ModuleType] | None = None,
    as_of: datetime = AS_OF,
    history: int = 450,
    log: Any = print,
) -> tuple[Any, int]:
    """Create the database and the data set; returns (app, tenant id). Members start
    their stretch of activity up to `history` days before `as_of`."""
    per_member = max(1, entries // members)
    began = time.monotonic()
    fresh_database(url)
    app = make_app(url, extra_plugins)
    with app.app_context():
        upgrade(app)
        tenant_id = create_merchant(app, set(plugins))
    log(f"database migrated, merchant {tenant_id} created ({time.monotonic() - began:.1f} s)")
    with connect(url) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        for (table,) in conn.execute("""SELECT relname FROM pg_class WHERE relname IN
                ('customers', 'memberships', 'purchases', 'ledger_entries', 'ledger_lots')"""):
            if conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]:
                raise RuntimeError(f"{table} is not empty: the fixed ids would collide")
        conn.execute("SET maintenance_work_mem = '1GB'")  # this session's index builds
        schema = _secondary_schema(conn)
        tiers = _has_tiers(conn)
        _drop(conn, schema)
        try:
            for lo in range(1, members + 1, CHUNK):
                hi = min(lo + CHUNK - 1, members)
                with conn.transaction():
                    _fill_chunk(conn, tenant_id, lo, hi, per_member, as_of, tiers, history)
                log(f"  members {hi:>9,} / {members:,}  ({time.monotonic() - began:.0f} s)")
        finally:
            _restore(conn, schema)
        if _secondary_schema(conn) != schema:
            raise RuntimeError("the schema after the load differs from the migrated one")
        log(f"indexes and constraints rebuilt and checked ({time.monotonic() - began:.0f} s)")
        filled = BULK_TABLES + (("tiers_members",) if tiers else ())
        for table in filled:
            conn.execute(f"""SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                                           (SELECT max(id) FROM {table}))""")
        conn.execute(f"VACUUM (ANALYZE) {', '.join(filled)}")
    log(
        f"data set of {members:,} members, {members * per_member:,} entries "
        f"in {time.monotonic() - began:.0f} s"
    )
    return app, tenant_id


def describe(url: str, tenant_id: int, as_of: datetime = AS_OF) -> dict[str, int]:
    """Counts of the data set, and what the run at `as_of` will expire and warn."""
    with connect(url) as conn:
        one = lambda sql: conn.execute(sql, {"t": tenant_id, "as_of": as_of}).fetchone()[0]  # noqa: E731
        return {
            "members": one("SELECT count(*) FROM memberships WHERE tenant_id = %(t)s"),
            "entries": one("SELECT count(*) FROM ledger_entries WHERE tenant_id = %(t)s"),
            "lots": one("SELECT count(*) FROM ledger_lots WHERE tenant_id = %(t)s"),
            "purchases": one("SELECT count(*) FROM purchases WHERE tenant_id = %(t)s"),
            "lots_with_points": one(
                "SELECT count(*) FROM ledger_lots WHERE tenant_id = %(t)s AND remaining > 0"
            ),
            "lots_due": one(
                "SELECT count(*) FROM ledger_lots WHERE tenant_id = %(t)s"
                " AND remaining > 0 AND expires_at <= %(as_of)s"
            ),
            "members_due": one(
                "SELECT count(DISTINCT member_id) FROM ledger_lots"
                " WHERE tenant_id = %(t)s AND remaining > 0"
                " AND expires_at <= %(as_of)s"
            ),
            "members_warned": one(
                "SELECT count(DISTINCT member_id) FROM ledger_lots WHERE tenant_id = %(t)s"
                " AND remaining > 0 AND expires_at > %(as_of)s"
                " AND expires_at <= %(as_of)s::timestamptz + interval '1 month'"
            ),
            "purchases_last_month": one(
                "SELECT count(*) FROM purchases WHERE tenant_id = %(t)s"
                " AND created_at >= %(as_of)s::timestamptz - interval '1 month'"
                " AND created_at < %(as_of)s"
            ),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--history-days", type=int, default=450)
    args = parser.parse_args()
    app, tenant_id = build(args.database_url, args.members, args.entries, history=args.history_days)
    for name, value in describe(args.database_url, tenant_id).items():
        print(f"{name:<22}{value:>12,}")
    app.extensions["premia"].engine.dispose()


if __name__ == "__main__":
    main()
