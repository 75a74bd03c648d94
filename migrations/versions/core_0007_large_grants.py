"""large grants confirmed in the panel; redemptions found by their ledger entry

Revision ID: core_0007
Revises: core_0006
Create Date: 2026-12-04 21:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0007"
down_revision = "core_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Entries written before were never asked to be confirmed: false.
    op.add_column(
        "ledger_entries",
        sa.Column("confirmed_large", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    # Actividad and a member's movements show whether a debit is a pending request.
    op.create_index("ix_redemptions_entry_id", "redemptions", ["entry_id"])


def downgrade() -> None:
    op.drop_index("ix_redemptions_entry_id", table_name="redemptions")
    with op.batch_alter_table("ledger_entries") as batch:
        batch.drop_column("confirmed_large")
