"""push: a batch's deliveries found by an index, not a scan of every send's deliveries

Revision ID: push_0003_batch_index
Revises: push_0002_claim
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "push_0003_batch_index"
down_revision = "push_0002_claim"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_push_deliveries_send_id_batch", "push_deliveries", ["send_id", "batch"])


def downgrade() -> None:
    op.drop_index("ix_push_deliveries_send_id_batch", table_name="push_deliveries")
