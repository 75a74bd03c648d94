"""what an earn writes, trimmed: the ledger entries' keys and reverses unique only where
set, lots that never expire left out of the due index, and purchases reaching their
tenant through their member

Each index entry written for a NULL key and each foreign key checked is paid on every
sale (bench/api.py's replay of one earn's statements, docs/benchmarks.md).

Revision ID: core_0021_earn_writes
Revises: core_0020_csv_ledger_keys
Create Date: 2026-12-05 21:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0021_earn_writes"
down_revision = "core_0020_csv_ledger_keys"
branch_labels = None
depends_on = None

_SET = {  # the entries' keys unique where set: (index, column)
    "uq_ledger_entries_tenant_id_reverses_id": "reverses_id",
    "uq_ledger_entries_tenant_id_idempotency_key": "idempotency_key",
}


def upgrade() -> None:
    _entries_keys(partial=True)
    _due_index("remaining > 0 AND expires_at IS NOT NULL")
    _purchases_tenant(through_member=True)


def downgrade() -> None:
    _purchases_tenant(through_member=False)
    _due_index("remaining > 0")
    _entries_keys(partial=False)


def _entries_keys(*, partial: bool) -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if partial:
        if postgres:
            for name in _SET:
                op.drop_constraint(name, "ledger_entries", type_="unique")
        else:
            with op.batch_alter_table("ledger_entries") as batch:
                for name in _SET:
                    batch.drop_constraint(name, type_="unique")
        for name, column in _SET.items():
            where = sa.text(f"{column} IS NOT NULL")
            op.create_index(
                name,
                "ledger_entries",
                ["tenant_id", column],
                unique=True,
                postgresql_where=where,
                sqlite_where=where,
            )
        return
    for name in _SET:
        op.drop_index(name, table_name="ledger_entries")
    if postgres:
        for name, column in _SET.items():
            op.create_unique_constraint(name, "ledger_entries", ["tenant_id", column])
    else:
        with op.batch_alter_table("ledger_entries") as batch:
            for name, column in _SET.items():
                batch.create_unique_constraint(name, ["tenant_id", column])


def _due_index(where: str) -> None:
    op.drop_index("ix_ledger_lots_due", table_name="ledger_lots")
    op.create_index(
        "ix_ledger_lots_due",
        "ledger_lots",
        ["tenant_id", "expires_at"],
        postgresql_where=sa.text(where),
        sqlite_where=sa.text(where),
    )


def _purchases_tenant(*, through_member: bool) -> None:
    """As core_0020 for the ledger's entries and lots."""
    member = "fk_purchases_tenant_id_member_id_memberships"
    tenant = "fk_purchases_tenant_id_tenants"
    ondelete = "CASCADE" if through_member else None
    if op.get_bind().dialect.name != "postgresql":
        with op.batch_alter_table("purchases") as batch:
            batch.drop_constraint(member, type_="foreignkey")
            batch.create_foreign_key(
                member, "memberships", ["tenant_id", "member_id"], ["tenant_id", "id"],
                ondelete=ondelete,
            )  # fmt: skip
            if through_member:
                batch.drop_constraint(tenant, type_="foreignkey")
            else:
                batch.create_foreign_key(
                    tenant, "tenants", ["tenant_id"], ["id"], ondelete="CASCADE"
                )
        return
    op.drop_constraint(member, "purchases", type_="foreignkey")
    op.create_foreign_key(
        member, "purchases", "memberships", ["tenant_id", "member_id"], ["tenant_id", "id"],
        ondelete=ondelete,
    )  # fmt: skip
    if through_member:
        op.drop_constraint(tenant, "purchases", type_="foreignkey")
    else:
        op.create_foreign_key(
            tenant, "purchases", "tenants", ["tenant_id"], ["id"], ondelete="CASCADE"
        )
