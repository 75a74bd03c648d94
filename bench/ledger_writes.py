"""What PostgreSQL spends writing ledger entries and lots, part by part: the backend CPU
of one set-based write (two entries and two lots for each of `--members` members, as
`credit_in_bulk` writes them) in a transaction rolled back, with parts of the schema
dropped inside that transaction (indexes, foreign keys), the cases alternated over
`--rounds` rounds in one connection; the least CPU of each case and its ratio to the
first. Read on a database with members already, e.g. after `bench/csv_import.py`:

    python bench/ledger_writes.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_csv

The backend's CPU is read from /proc/PID/schedstat (a server on this machine), which a
loaded machine inflates far less than the wall clock. Nothing is kept: every case
rolls back. Figures go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bench.api import libpq  # noqa: E402

WRITE = """
WITH m AS (SELECT tenant_id, id FROM memberships ORDER BY id LIMIT %(members)s),
e AS (INSERT INTO ledger_entries (tenant_id, member_id, kind, points, balance_after,
        actor_kind, idempotency_key, confirmed_large, created_at)
      SELECT tenant_id, id, 'earn', 5, 5 * k, 'system', 'bench:' || id || ':' || k, false,
        now()
      FROM m, generate_series(1, 2) k RETURNING tenant_id, id, member_id, points)
INSERT INTO ledger_lots (tenant_id, member_id, entry_id, points, remaining, created_at)
SELECT tenant_id, member_id, id, points, points, now() FROM e
"""

TENANT_INDEXES = [
    "CREATE INDEX bench_e_tenant ON ledger_entries (tenant_id)",
    "CREATE INDEX bench_l_tenant ON ledger_lots (tenant_id)",
]
# What core_0020 dropped: the entries' and lots' own keys to tenants.
TENANT_FKS = [
    f"ALTER TABLE {table} ADD CONSTRAINT bench_{table}_tenant FOREIGN KEY (tenant_id) "
    "REFERENCES tenants (id) ON DELETE CASCADE"
    for table in ("ledger_entries", "ledger_lots")
]
OTHER_FKS = [
    f"ALTER TABLE {table} DROP CONSTRAINT {name}"
    for table, name in (
        ("ledger_lots", "fk_ledger_lots_tenant_id_entry_id_ledger_entries"),
        ("ledger_lots", "fk_ledger_lots_tenant_id_member_id_memberships"),
        ("ledger_entries", "fk_ledger_entries_tenant_id_member_id_memberships"),
        ("ledger_entries", "fk_ledger_entries_tenant_id_location_id_locations"),
        ("ledger_entries", "fk_ledger_entries_tenant_id_purchase_id_purchases"),
        ("ledger_entries", "fk_ledger_entries_tenant_id_reverses_id_ledger_entries"),
    )
]
PARTIAL = [
    "DROP INDEX ix_ledger_entries_purchase_id",
    "CREATE INDEX bench_p ON ledger_entries (purchase_id) WHERE purchase_id IS NOT NULL",
    "ALTER TABLE ledger_entries DROP CONSTRAINT "
    "fk_ledger_entries_tenant_id_reverses_id_ledger_entries",
    "ALTER TABLE ledger_entries DROP CONSTRAINT uq_ledger_entries_tenant_id_reverses_id",
    "CREATE UNIQUE INDEX bench_r ON ledger_entries (tenant_id, reverses_id) "
    "WHERE reverses_id IS NOT NULL",
]
# The first cases put back what core_0017 (plain tenant_id indexes) and core_0020 (the
# keys to tenants) dropped; then the schema as the migrations leave it, and less.
CASES = {
    "before core_0017 (plain tenant_id indexes, keys to tenants)": TENANT_INDEXES + TENANT_FKS,
    "before core_0020 (keys to tenants)": TENANT_FKS,
    "as migrated (core_0020)": [],
    "and partial purchase_id / reverses_id indexes": PARTIAL,
    "and no foreign key at all": OTHER_FKS,
}


def cpu(pid: int) -> float:
    with open(f"/proc/{pid}/schedstat") as stream:
        return int(stream.read().split()[0]) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/bench_csv"
    )
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    spent: dict[str, list[float]] = {case: [] for case in CASES}
    with psycopg.connect(libpq(args.database_url)) as conn:
        pid = conn.info.backend_pid
        members = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM memberships LIMIT %s) AS m", (args.members,)
        ).fetchone()[0]
        conn.rollback()
        for _round in range(args.rounds):
            for case, statements in CASES.items():
                for statement in statements:
                    conn.execute(statement)
                before = cpu(pid)
                conn.execute(WRITE, {"members": args.members})
                spent[case].append(cpu(pid) - before)
                conn.rollback()
    first = min(next(iter(spent.values())))
    print(f"{members:,} members, {2 * members:,} entries and lots; backend CPU s (least):")
    for case, values in spent.items():
        rounds = " ".join(f"{v:.2f}" for v in values)
        print(f"  {min(values):6.2f}  {min(values) / first:5.2f}  {case}  ({rounds})")


if __name__ == "__main__":
    main()
