"""birthday: the local days processed per tenant

Revision ID: birthday_0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "birthday_0001"
down_revision = None
branch_labels = ("birthday",)
depends_on = "core_0002"


def upgrade() -> None:
    op.create_table(
        "birthday_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("granted", sa.Integer(), nullable=False),
        sa.Column("ran_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_birthday_runs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_birthday_runs")),
        sa.UniqueConstraint("tenant_id", "day", name=op.f("uq_birthday_runs_tenant_id_day")),
    )
    op.create_index(
        op.f("ix_birthday_runs_tenant_id"), "birthday_runs", ["tenant_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_birthday_runs_tenant_id"), table_name="birthday_runs")
    op.drop_table("birthday_runs")
