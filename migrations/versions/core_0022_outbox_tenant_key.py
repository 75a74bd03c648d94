"""the outbox's rows keep their tenant's id without a foreign key to `tenants`

A foreign key is checked on every row written with a KEY SHARE lock on the referenced
row: for the outbox, one row per committing transaction, always the merchant's own row,
locked by every concurrent sale of that merchant (each lock a new MultiXact written into
the row). Dropping it (and the API's stored answers' key, api_0003) made the earn's
statements 9 % faster in bench/api.py's replay (docs/benchmarks.md). An outbox row lives
until a relay has run it, and a relay deletes the rows of a merchant that is gone
(core.host.outbox); its tenant_id is the one of the session that wrote it.

Revision ID: core_0022_outbox_tenant_key
Revises: core_0021_earn_writes
Create Date: 2026-12-06 07:58:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "core_0022_outbox_tenant_key"
down_revision = "core_0021_earn_writes"
branch_labels = None
depends_on = None

_KEY = "fk_outbox_tenant_id_tenants"


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint(_KEY, type_="foreignkey")


def downgrade() -> None:
    op.execute("DELETE FROM outbox WHERE tenant_id NOT IN (SELECT id FROM tenants)")
    with op.batch_alter_table("outbox") as batch:
        batch.create_foreign_key(_KEY, "tenants", ["tenant_id"], ["id"], ondelete="CASCADE")
