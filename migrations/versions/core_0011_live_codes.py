"""live codes: each membership's secret for the app's rotating QR

Revision ID: core_0011
Revises: core_0010
Create Date: 2026-12-05 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0011"
down_revision = "core_0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Drawn when the app first shows a card: existing members get theirs then.
    with op.batch_alter_table("memberships") as batch:
        batch.add_column(sa.Column("live_secret", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("memberships") as batch:
        batch.drop_column("live_secret")
