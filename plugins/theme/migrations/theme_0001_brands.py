"""theme: a brand's look set from its panel

Revision ID: theme_0001
Revises:
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "theme_0001"
down_revision = None
branch_labels = ("theme",)
depends_on = "core_0002"


def upgrade() -> None:
    op.create_table(
        "theme_brands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("primary", sa.String(length=7), nullable=True),
        sa.Column("accent", sa.String(length=7), nullable=True),
        sa.Column("font", sa.String(length=40), nullable=True),
        sa.Column("icon", sa.String(length=500), nullable=True),
        sa.Column("sender_name", sa.String(length=120), nullable=True),
        sa.Column("reply_to", sa.String(length=254), nullable=True),
        sa.Column("footer", sa.Text(), nullable=True),
        sa.Column("terms_url", sa.String(length=500), nullable=True),
        sa.Column("privacy_url", sa.String(length=500), nullable=True),
        sa.Column("stylesheet", sa.Text(), nullable=False),
        sa.Column("stylesheet_hash", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_theme_brands_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_theme_brands")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_theme_brands_tenant_id")),
    )
    op.create_index(op.f("ix_theme_brands_tenant_id"), "theme_brands", ["tenant_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_theme_brands_tenant_id"), table_name="theme_brands")
    op.drop_table("theme_brands")
