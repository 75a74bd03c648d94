"""news: the merchant's news items (offers, promotions)

Revision ID: news_0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "news_0001"
down_revision = None
branch_labels = ("news",)
depends_on = "core_0002"


def upgrade() -> None:
    op.create_table(
        "news_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=160), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("image", sa.String(length=500), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "ends_on IS NULL OR starts_on IS NULL OR ends_on >= starts_on",
            name=op.f("ck_news_items_dates_in_order"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_news_items_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_news_items")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_news_items_tenant_id_id")),
    )
    op.create_index(op.f("ix_news_items_tenant_id"), "news_items", ["tenant_id"], unique=False)
    op.create_index(
        "ix_news_items_tenant_id_active", "news_items", ["tenant_id", "active"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_news_items_tenant_id_active", table_name="news_items")
    op.drop_index(op.f("ix_news_items_tenant_id"), table_name="news_items")
    op.drop_table("news_items")
