"""daily figures: the program's figures per tenant and closed local day

Revision ID: core_0003
Revises: core_0002
Create Date: 2026-11-23 04:34:17.809618
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0003"
down_revision = "core_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daily_figures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.Column("redeemed", sa.Integer(), nullable=False),
        sa.Column("redemptions", sa.Integer(), nullable=False),
        sa.Column("expired", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_daily_figures_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_figures")),
        sa.UniqueConstraint("tenant_id", "day", name=op.f("uq_daily_figures_tenant_id_day")),
    )
    op.create_index(
        op.f("ix_daily_figures_tenant_id"), "daily_figures", ["tenant_id"], unique=False
    )
    op.create_index(
        "ix_daily_figures_tenant_id_day", "daily_figures", ["tenant_id", "day"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_daily_figures_tenant_id_day", table_name="daily_figures")
    op.drop_index(op.f("ix_daily_figures_tenant_id"), table_name="daily_figures")
    op.drop_table("daily_figures")
