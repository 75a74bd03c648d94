"""coupons: page QRs (short links, scans per day) and printed sheets

Revision ID: coupons_0002
Revises: coupons_0001
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.sdk import UTCDateTime

revision = "coupons_0002"
down_revision = "coupons_0001"
branch_labels = None
depends_on = None


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
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "coupons_page_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("target_url", sa.String(length=2000), nullable=False),
        sa.Column("token", sa.String(length=24), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint(
            "tenant_id", "token", name=op.f("uq_coupons_page_links_tenant_id_token")
        ),
        *_tenant("coupons_page_links"),
    )
    op.create_index(
        op.f("ix_coupons_page_links_tenant_id"), "coupons_page_links", ["tenant_id"], unique=False
    )
    op.create_table(
        "coupons_page_scans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("page_link_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("scans", sa.Integer(), nullable=False),
        _fk("coupons_page_scans", "page_link_id", "coupons_page_links"),
        sa.UniqueConstraint(
            "tenant_id",
            "page_link_id",
            "day",
            name=op.f("uq_coupons_page_scans_tenant_id_page_link_id_day"),
        ),
        *_tenant("coupons_page_scans"),
    )
    op.create_index(
        op.f("ix_coupons_page_scans_tenant_id"), "coupons_page_scans", ["tenant_id"], unique=False
    )
    op.create_index(
        "ix_coupons_page_scans_page_link_id_day",
        "coupons_page_scans",
        ["page_link_id", "day"],
        unique=False,
    )
    op.create_table(
        "coupons_print_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("page_link_id", sa.Integer(), nullable=True),
        sa.Column("layout", sa.String(length=16), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=True),
        sa.Column("last_day", sa.Date(), nullable=True),
        sa.Column("copies", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("file", sa.String(length=80), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(campaign_id IS NULL) <> (page_link_id IS NULL)",
            name=op.f("ck_coupons_print_jobs_one_source"),
        ),
        _fk("coupons_print_jobs", "campaign_id", "coupons_campaigns"),
        _fk("coupons_print_jobs", "page_link_id", "coupons_page_links"),
        *_tenant("coupons_print_jobs"),
    )
    op.create_index(
        op.f("ix_coupons_print_jobs_tenant_id"), "coupons_print_jobs", ["tenant_id"], unique=False
    )
    op.create_index(
        "ix_coupons_print_jobs_created_at",
        "coupons_print_jobs",
        ["tenant_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("coupons_print_jobs")
    op.drop_table("coupons_page_scans")
    op.drop_table("coupons_page_links")
