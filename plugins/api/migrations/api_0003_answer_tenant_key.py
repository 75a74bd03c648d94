"""api: the stored answers keep their tenant's id without a foreign key to `tenants`

Each answer stored (every sale with an `Idempotency-Key`) checked its key to the
merchant's row with a KEY SHARE lock, the same row for every concurrent sale of the
merchant (each lock a new MultiXact written into it); with the outbox's (core_0022),
dropping it made the earn's statements 9 % faster in bench/api.py's replay
(docs/benchmarks.md). An answer is forgotten after 48 hours (`forget_old`), and its
tenant_id is the one of the session that stored it.

Revision ID: api_0003
Revises: api_0002
Create Date: 2026-12-06 07:58:00
"""

from __future__ import annotations

from alembic import op

revision = "api_0003"
down_revision = "api_0002"
branch_labels = None
depends_on = None

_KEY = "fk_api_idempotent_responses_tenant_id_tenants"


def upgrade() -> None:
    with op.batch_alter_table("api_idempotent_responses") as batch:
        batch.drop_constraint(_KEY, type_="foreignkey")


def downgrade() -> None:
    op.execute(
        "DELETE FROM api_idempotent_responses WHERE tenant_id NOT IN (SELECT id FROM tenants)"
    )
    with op.batch_alter_table("api_idempotent_responses") as batch:
        batch.create_foreign_key(_KEY, "tenants", ["tenant_id"], ["id"], ondelete="CASCADE")
