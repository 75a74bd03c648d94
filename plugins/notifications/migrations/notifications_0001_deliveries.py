"""notifications: deliveries sent (one row per e-mail, so a retried job never re-sends)

Revision ID: notifications_0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "notifications_0001"
down_revision = None
branch_labels = ("notifications",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "notifications_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("template", sa.String(length=60), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_notifications_deliveries_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications_deliveries")),
        sa.UniqueConstraint(
            "tenant_id", "key", name=op.f("uq_notifications_deliveries_tenant_id_key")
        ),
    )
    op.create_index(
        op.f("ix_notifications_deliveries_tenant_id"),
        "notifications_deliveries",
        ["tenant_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_notifications_deliveries_tenant_id"), table_name="notifications_deliveries"
    )
    op.drop_table("notifications_deliveries")
