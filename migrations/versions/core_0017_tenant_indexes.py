"""the plain (tenant_id) indexes go on PostgreSQL: each tenant-owned table's primary key
(tenant_id, id) begins with tenant_id and serves every `WHERE tenant_id = ?`, while
each index is one more write per inserted row (a customer imported writes seven rows
over four such tables)

The indexes are read from the catalogue (core's and plugins' tables alike): a plain
index on tenant_id alone beside a primary key that begins with it. Tables made from
now on do not get one on PostgreSQL (core/host/keys.py). SQLite keeps them: its
primary key is (id).

Revision ID: core_0017_tenant_indexes
Revises: core_0016_keys
Create Date: 2026-12-05 14:10:00.000000
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Index, text

revision = "core_0017_tenant_indexes"
down_revision = "core_0016_keys"
branch_labels = None
depends_on = None

_REDUNDANT = """
SELECT i.relname FROM pg_index x
JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = x.indkey[0]
WHERE c.relnamespace = current_schema()::regnamespace AND NOT x.indisunique
  AND x.indnkeyatts = 1 AND x.indpred IS NULL AND x.indexprs IS NULL
  AND a.attname = 'tenant_id'
  AND EXISTS (SELECT 1 FROM pg_index k WHERE k.indrelid = x.indrelid AND k.indisprimary
              AND k.indkey[0] = x.indkey[0])
ORDER BY 1
"""


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    for name in conn.execute(text(_REDUNDANT)).scalars().all():
        conn.execute(text(f'DROP INDEX "{name}"'))


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    # Made again where the models declare them, on the tables that exist.
    metadata = op.get_context().opts["target_metadata"]
    present = set(
        conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        ).scalars()
    )
    for table in metadata.tables.values():
        if table.name not in present:
            continue
        for index in table.indexes:
            if _plain_tenant_index(index):
                conn.execute(
                    text(f'CREATE INDEX IF NOT EXISTS "{index.name}" ON "{table.name}" (tenant_id)')
                )


def _plain_tenant_index(index: Index) -> bool:
    return not index.unique and [c.name for c in index.columns] == ["tenant_id"]
