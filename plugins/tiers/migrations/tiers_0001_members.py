"""tiers: members' tiers, tier changes, period runs

Revision ID: tiers_0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.sdk import UTCDateTime

revision = "tiers_0001"
down_revision = None
branch_labels = ("tiers",)
depends_on = "core_0002"


def upgrade() -> None:
    op.create_table(
        "tiers_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=12), nullable=False),
        sa.Column("as_of", UTCDateTime(timezone=True), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("ran_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tiers_runs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tiers_runs")),
        sa.UniqueConstraint("tenant_id", "period", name=op.f("uq_tiers_runs_tenant_id_period")),
    )
    op.create_index(op.f("ix_tiers_runs_tenant_id"), "tiers_runs", ["tenant_id"], unique=False)
    op.create_table(
        "tiers_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(length=30), nullable=True),
        sa.Column("kept", sa.String(length=30), nullable=True),
        sa.Column("previous", sa.String(length=30), nullable=True),
        sa.Column("since", UTCDateTime(timezone=True), nullable=False),
        sa.Column("evaluated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "member_id"],
            ["memberships.tenant_id", "memberships.id"],
            name=op.f("fk_tiers_members_tenant_id_member_id_memberships"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tiers_members_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tiers_members")),
        sa.UniqueConstraint(
            "tenant_id", "member_id", name=op.f("uq_tiers_members_tenant_id_member_id")
        ),
    )
    op.create_index(
        op.f("ix_tiers_members_tenant_id"), "tiers_members", ["tenant_id"], unique=False
    )
    op.create_table(
        "tiers_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("from_tier", sa.String(length=30), nullable=True),
        sa.Column("to_tier", sa.String(length=30), nullable=True),
        sa.Column("reason", sa.String(length=12), nullable=False),
        sa.Column("purchase_id", sa.Integer(), nullable=True),
        sa.Column("run", sa.String(length=40), nullable=True),
        sa.Column("changed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "member_id"],
            ["memberships.tenant_id", "memberships.id"],
            name=op.f("fk_tiers_changes_tenant_id_member_id_memberships"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "purchase_id"],
            ["purchases.tenant_id", "purchases.id"],
            name=op.f("fk_tiers_changes_tenant_id_purchase_id_purchases"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tiers_changes_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tiers_changes")),
    )
    op.create_index(
        "ix_tiers_changes_member_id_id", "tiers_changes", ["member_id", "id"], unique=False
    )
    op.create_index("ix_tiers_changes_run", "tiers_changes", ["tenant_id", "run"], unique=False)
    op.create_index(
        op.f("ix_tiers_changes_tenant_id"), "tiers_changes", ["tenant_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_tiers_changes_tenant_id"), table_name="tiers_changes")
    op.drop_index("ix_tiers_changes_run", table_name="tiers_changes")
    op.drop_index("ix_tiers_changes_member_id_id", table_name="tiers_changes")

    op.drop_table("tiers_changes")
    op.drop_index(op.f("ix_tiers_members_tenant_id"), table_name="tiers_members")

    op.drop_table("tiers_members")
    op.drop_index(op.f("ix_tiers_runs_tenant_id"), table_name="tiers_runs")

    op.drop_table("tiers_runs")
