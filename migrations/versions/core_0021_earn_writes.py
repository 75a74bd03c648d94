"""what an earn writes, trimmed: member_totals kept by a row trigger for one member's
balance (a statement trigger only where a bulk statement says so), the ledger entries'
keys and reverses unique only where set, lots that never expire left out of the due
index, and purchases reaching their tenant through their member

Measured with bench/api.py's replay of one earn's statements (pgbench, 16 clients):
the statement-level trigger with transition tables cost about a fifth of the earn's
four statements on these tables, the row trigger half of that; each index entry written
for a NULL key and each foreign key checked is a few percent more.

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

# PostgreSQL. One member's balance (an earn, a redemption, a return) is counted by a
# row trigger: no transition tables to build and read back for one row. A statement
# that moves many balances at once (bulk credits, expiry) says so first with
# `member_totals.counted_by_statement` (the transaction-local setting below): the
# row trigger steps aside and the statement trigger adds the statement's change once.
# Either way every change is counted, by construction: without the setting a bulk
# statement is only slower (one stripe update a row), never wrong.
BULK = "current_setting('premia.bulk_totals', true)"
PG_UP = [
    """
    CREATE FUNCTION member_totals_row_change() RETURNS trigger AS $$
    BEGIN
        IF NEW.tenant_id = OLD.tenant_id THEN
            PERFORM member_totals_add(NEW.tenant_id, 0, NEW.balance::bigint - OLD.balance::bigint);
        ELSE
            PERFORM member_totals_add(OLD.tenant_id, -1, -OLD.balance::bigint);
            PERFORM member_totals_add(NEW.tenant_id, 1, NEW.balance::bigint);
        END IF;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    "DROP TRIGGER member_totals_update ON memberships",
    f"""
    CREATE TRIGGER member_totals_update AFTER UPDATE ON memberships
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT WHEN ({BULK} = 'on') EXECUTE FUNCTION member_totals_change()
    """,
    f"""
    CREATE TRIGGER member_totals_update_row AFTER UPDATE OF balance, tenant_id ON memberships
    FOR EACH ROW WHEN (
        (OLD.balance IS DISTINCT FROM NEW.balance OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id)
        AND {BULK} IS DISTINCT FROM 'on'
    ) EXECUTE FUNCTION member_totals_row_change()
    """,
]
PG_DOWN = [
    "DROP TRIGGER member_totals_update_row ON memberships",
    "DROP TRIGGER member_totals_update ON memberships",
    """
    CREATE TRIGGER member_totals_update AFTER UPDATE ON memberships
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION member_totals_change()
    """,
    "DROP FUNCTION member_totals_row_change()",
]

_SET = {  # the entries' keys unique where set: (index, column)
    "uq_ledger_entries_tenant_id_reverses_id": "reverses_id",
    "uq_ledger_entries_tenant_id_idempotency_key": "idempotency_key",
}


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        for statement in PG_UP:
            op.execute(statement)
    _entries_keys(partial=True)
    _due_index("remaining > 0 AND expires_at IS NOT NULL")
    _purchases_tenant(through_member=True)


def downgrade() -> None:
    _purchases_tenant(through_member=False)
    _due_index("remaining > 0")
    _entries_keys(partial=False)
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_DOWN:
            op.execute(statement)


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
