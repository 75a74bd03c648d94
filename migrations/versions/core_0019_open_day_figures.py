"""open day figures: each merchant's figures of the day not closed yet, counted by the
hourly job up to a moment, so Inicio counts live only the entries written since
(core.loyalty.figures)

Revision ID: core_0019_open_day
Revises: core_0018_outbox
Create Date: 2026-12-05 14:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.host.db

revision = "core_0019_open_day"
down_revision = "core_0018_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "open_day_figures",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("through", core.host.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.Column("redeemed", sa.Integer(), nullable=False),
        sa.Column("redemptions", sa.Integer(), nullable=False),
        sa.Column("expired", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_open_day_figures_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_open_day_figures")),
    )
    if op.get_bind().dialect.name != "postgresql":  # there the key (tenant_id) serves
        op.create_index(
            op.f("ix_open_day_figures_tenant_id"), "open_day_figures", ["tenant_id"], unique=False
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_open_day_figures_tenant_id"), table_name="open_day_figures")
    op.drop_table("open_day_figures")
