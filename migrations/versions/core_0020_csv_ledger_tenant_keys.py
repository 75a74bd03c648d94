"""the ledger's entries and lots reach their tenant through their member: their own
foreign keys to `tenants` go (implied by (tenant_id, member_id) → memberships, whose
tenant_id references the tenant), and the member's keys cascade a deletion, so a
tenant's deletion still reaches them

Each foreign key is checked on every row written: a lookup and a KEY SHARE lock on the
tenant's row (bench/ledger_writes.py: about a fifth of the ledger's write cost). The
keys stay Citus-ready (every key between tenant-owned tables holds tenant_id).

Revision ID: core_0020_csv_ledger_keys
Revises: core_0019_open_day
Create Date: 2026-12-05 17:50:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "core_0020_csv_ledger_keys"
down_revision = "core_0019_open_day"
branch_labels = None
depends_on = None

_TABLES = ("ledger_entries", "ledger_lots")


def _tenant(table: str) -> str:
    return f"fk_{table}_tenant_id_tenants"


def _member(table: str) -> str:
    return f"fk_{table}_tenant_id_member_id_memberships"


def upgrade() -> None:
    _change(cascade=True)


def downgrade() -> None:
    _change(cascade=False)


def _change(*, cascade: bool) -> None:
    conn = op.get_bind()
    ondelete = "CASCADE" if cascade else None
    for table in _TABLES:
        if conn.dialect.name != "postgresql":  # SQLite: the table made again, its rows kept
            with op.batch_alter_table(table) as batch:
                batch.drop_constraint(_member(table), type_="foreignkey")
                batch.create_foreign_key(
                    _member(table),
                    "memberships",
                    ["tenant_id", "member_id"],
                    ["tenant_id", "id"],
                    ondelete=ondelete,
                )
                if cascade:
                    batch.drop_constraint(_tenant(table), type_="foreignkey")
                else:
                    batch.create_foreign_key(
                        _tenant(table), "tenants", ["tenant_id"], ["id"], ondelete="CASCADE"
                    )
            continue
        # Made again with its rows checked (one scan each, under the migration's lock).
        op.drop_constraint(_member(table), table, type_="foreignkey")
        op.create_foreign_key(
            _member(table),
            table,
            "memberships",
            ["tenant_id", "member_id"],
            ["tenant_id", "id"],
            ondelete=ondelete,
        )
        if cascade:
            op.drop_constraint(_tenant(table), table, type_="foreignkey")
        else:
            op.create_foreign_key(
                _tenant(table), table, "tenants", ["tenant_id"], ["id"], ondelete="CASCADE"
            )
