"""expiry runs: when the month's warnings were queued

Revision ID: core_0004
Revises: core_0003
Create Date: 2026-11-23 07:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0004"
down_revision = "core_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("expiry_runs", sa.Column("warned_at", sa.DateTime(timezone=True), nullable=True))
    # Runs before this revision queued their warnings in the run's own transaction.
    op.execute("UPDATE expiry_runs SET warned_at = ran_at")


def downgrade() -> None:
    with op.batch_alter_table("expiry_runs") as batch:
        batch.drop_column("warned_at")
