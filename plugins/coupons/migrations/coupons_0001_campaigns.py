"""coupons: campaigns, codes and claims

Revision ID: coupons_0001
Revises:
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.sdk import UTCDateTime

revision = "coupons_0001"
down_revision = None
branch_labels = ("coupons",)
depends_on = "core_0002"


def _tenant(table: str) -> list[sa.SchemaItem]:
    return [
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f(f"fk_{table}_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f(f"uq_{table}_tenant_id_id")),
    ]


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", column],
        [f"{target}.tenant_id", f"{target}.id"],
        name=op.f(f"fk_{table}_tenant_id_{column}_{target}"),
    )


def upgrade() -> None:
    op.create_table(
        "coupons_campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=True),
        sa.Column("claimed", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("points > 0", name=op.f("ck_coupons_campaigns_points_positive")),
        sa.CheckConstraint(
            "stock IS NULL OR claimed <= stock", name=op.f("ck_coupons_campaigns_within_stock")
        ),
        sa.CheckConstraint(
            "ends_on IS NULL OR ends_on >= starts_on",
            name=op.f("ck_coupons_campaigns_dates_in_order"),
        ),
        *_tenant("coupons_campaigns"),
    )
    op.create_index(
        op.f("ix_coupons_campaigns_tenant_id"), "coupons_campaigns", ["tenant_id"], unique=False
    )
    op.create_table(
        "coupons_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=24), nullable=False),
        sa.Column("points", sa.Integer(), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("claimed_by", sa.Integer(), nullable=True),
        sa.Column("claimed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("upload", sa.String(length=32), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "points IS NULL OR points > 0", name=op.f("ck_coupons_codes_points_positive")
        ),
        _fk("coupons_codes", "campaign_id", "coupons_campaigns"),
        _fk("coupons_codes", "claimed_by", "memberships"),
        sa.UniqueConstraint("tenant_id", "code", name=op.f("uq_coupons_codes_tenant_id_code")),
        *_tenant("coupons_codes"),
    )
    op.create_index(
        op.f("ix_coupons_codes_tenant_id"), "coupons_codes", ["tenant_id"], unique=False
    )
    op.create_index(
        "ix_coupons_codes_campaign_id_created_at",
        "coupons_codes",
        ["campaign_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "coupons_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        _fk("coupons_claims", "code_id", "coupons_codes"),
        _fk("coupons_claims", "campaign_id", "coupons_campaigns"),
        _fk("coupons_claims", "member_id", "memberships"),
        _fk("coupons_claims", "entry_id", "ledger_entries"),
        sa.UniqueConstraint(
            "tenant_id",
            "code_id",
            "member_id",
            name=op.f("uq_coupons_claims_tenant_id_code_id_member_id"),
        ),
        *_tenant("coupons_claims"),
    )
    op.create_index(
        op.f("ix_coupons_claims_tenant_id"), "coupons_claims", ["tenant_id"], unique=False
    )
    op.create_index(
        "ix_coupons_claims_campaign_id_created_at",
        "coupons_claims",
        ["campaign_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("coupons_claims")
    op.drop_table("coupons_codes")
    op.drop_table("coupons_campaigns")
