"""nps: satisfaction surveys and their answers

Revision ID: nps_0001
Revises:
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "nps_0001"
down_revision = None
branch_labels = ("nps",)
depends_on = "core_0002"


def upgrade() -> None:
    op.create_table(
        "nps_surveys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=12), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("location_id", sa.Integer(), nullable=True),
        sa.Column("bonus", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("bonus_entry_id", sa.Integer(), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "score IS NULL OR score BETWEEN 0 AND 10", name=op.f("ck_nps_surveys_score_in_range")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "location_id"],
            ["locations.tenant_id", "locations.id"],
            name=op.f("fk_nps_surveys_tenant_id_location_id_locations"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "member_id"],
            ["memberships.tenant_id", "memberships.id"],
            name=op.f("fk_nps_surveys_tenant_id_member_id_memberships"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_nps_surveys_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nps_surveys")),
        sa.UniqueConstraint(
            "tenant_id", "event", "source_id", name=op.f("uq_nps_surveys_tenant_id_event_source_id")
        ),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_nps_surveys_tenant_id_id")),
    )
    op.create_index(op.f("ix_nps_surveys_tenant_id"), "nps_surveys", ["tenant_id"], unique=False)
    op.create_index(
        "ix_nps_surveys_member_id_created_at",
        "nps_surveys",
        ["member_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_nps_surveys_tenant_id_answered_at",
        "nps_surveys",
        ["tenant_id", "answered_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_nps_surveys_tenant_id_answered_at", table_name="nps_surveys")
    op.drop_index("ix_nps_surveys_member_id_created_at", table_name="nps_surveys")
    op.drop_index(op.f("ix_nps_surveys_tenant_id"), table_name="nps_surveys")
    op.drop_table("nps_surveys")
