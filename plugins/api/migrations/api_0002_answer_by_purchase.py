"""api: an earn's stored answer names its purchase instead of holding its body

The earn's one statement (PostgreSQL) wrote the answer's JSON, assembled in SQL around
the ids it had just written: the largest single part of the earn's database time
(docs/benchmarks.md). It now writes the purchase's id; a retry renders the answer
from the purchase and its entries, which never change.

Revision ID: api_0002
Revises: api_0001
Create Date: 2026-12-06 00:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "api_0002"
down_revision = "api_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_idempotent_responses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purchase_id", sa.Integer(), nullable=True))
        batch_op.alter_column("body", existing_type=sa.JSON(), nullable=True)


def downgrade() -> None:
    # Answers are kept 48 hours; a retry of one dropped here is still given nothing
    # twice (the purchase keeps its key), it only answers afresh.
    op.execute("DELETE FROM api_idempotent_responses WHERE body IS NULL")
    with op.batch_alter_table("api_idempotent_responses", schema=None) as batch_op:
        batch_op.alter_column("body", existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column("purchase_id")
