"""referrals: invite codes and referrals

Revision ID: referrals_0001
Revises:
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.sdk import UTCDateTime

revision = "referrals_0001"
down_revision = None
branch_labels = ("referrals",)
depends_on = "core_0002"


def upgrade() -> None:
    op.create_table(
        "referrals_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "member_id"],
            ["memberships.tenant_id", "memberships.id"],
            name=op.f("fk_referrals_codes_tenant_id_member_id_memberships"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_referrals_codes_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals_codes")),
        sa.UniqueConstraint("tenant_id", "code", name=op.f("uq_referrals_codes_tenant_id_code")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_referrals_codes_tenant_id_id")),
        sa.UniqueConstraint(
            "tenant_id", "member_id", name=op.f("uq_referrals_codes_tenant_id_member_id")
        ),
    )
    op.create_index(
        op.f("ix_referrals_codes_tenant_id"), "referrals_codes", ["tenant_id"], unique=False
    )
    op.create_table(
        "referrals_referrals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referrer_id", sa.Integer(), nullable=False),
        sa.Column("friend_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("purchase_id", sa.Integer(), nullable=True),
        sa.Column("referrer_points", sa.Integer(), nullable=False),
        sa.Column("friend_points", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "referrer_id <> friend_id", name=op.f("ck_referrals_referrals_not_self")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "friend_id"],
            ["memberships.tenant_id", "memberships.id"],
            name=op.f("fk_referrals_referrals_tenant_id_friend_id_memberships"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "purchase_id"],
            ["purchases.tenant_id", "purchases.id"],
            name=op.f("fk_referrals_referrals_tenant_id_purchase_id_purchases"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "referrer_id"],
            ["memberships.tenant_id", "memberships.id"],
            name=op.f("fk_referrals_referrals_tenant_id_referrer_id_memberships"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_referrals_referrals_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals_referrals")),
        sa.UniqueConstraint(
            "tenant_id", "friend_id", name=op.f("uq_referrals_referrals_tenant_id_friend_id")
        ),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_referrals_referrals_tenant_id_id")),
    )
    op.create_index(
        op.f("ix_referrals_referrals_tenant_id"), "referrals_referrals", ["tenant_id"], unique=False
    )
    op.create_index(
        "ix_referrals_referrals_tenant_id_referrer_id",
        "referrals_referrals",
        ["tenant_id", "referrer_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_referrals_referrals_tenant_id_referrer_id", table_name="referrals_referrals")
    op.drop_index(op.f("ix_referrals_referrals_tenant_id"), table_name="referrals_referrals")
    op.drop_table("referrals_referrals")
    op.drop_index(op.f("ix_referrals_codes_tenant_id"), table_name="referrals_codes")
    op.drop_table("referrals_codes")
