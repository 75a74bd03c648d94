"""push: which batch job took a delivery, and when

Revision ID: push_0002_claim
Revises: push_0001
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "push_0002_claim"
down_revision = "push_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("push_deliveries") as table:
        table.add_column(sa.Column("claim", sa.String(length=32), nullable=True))
        table.add_column(sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("push_deliveries") as table:
        table.drop_column("taken_at")
        table.drop_column("claim")
