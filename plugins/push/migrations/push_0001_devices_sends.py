"""push: members' devices, sends and their deliveries

Revision ID: push_0001
Revises:
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "push_0001"
down_revision = None
branch_labels = ("push",)
depends_on = "core_0002"


def _tenant(table: str) -> list:
    return [
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f(f"fk_{table}_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "push_devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=4096), nullable=False),
        sa.Column("user_agent", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        *_tenant("push_devices"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "member_id"],
            ["memberships.tenant_id", "memberships.id"],
            name=op.f("fk_push_devices_tenant_id_member_id_memberships"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_devices")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_push_devices_tenant_id_id")),
        sa.UniqueConstraint("tenant_id", "token", name=op.f("uq_push_devices_tenant_id_token")),
    )
    op.create_index(op.f("ix_push_devices_tenant_id"), "push_devices", ["tenant_id"])
    op.create_index("ix_push_devices_member_id", "push_devices", ["member_id"])

    op.create_table(
        "push_sends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=True),
        sa.Column("campaign", sa.Boolean(), nullable=False),
        sa.Column("topic", sa.String(length=20), nullable=True),
        sa.Column("title", sa.String(length=80), nullable=False),
        sa.Column("body", sa.String(length=400), nullable=False),
        sa.Column("image", sa.String(length=500), nullable=True),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("targeted", sa.Integer(), nullable=False),
        *_tenant("push_sends"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_sends")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_push_sends_tenant_id_id")),
        sa.UniqueConstraint("tenant_id", "key", name=op.f("uq_push_sends_tenant_id_key")),
    )
    op.create_index(op.f("ix_push_sends_tenant_id"), "push_sends", ["tenant_id"])
    op.create_index(
        "ix_push_sends_tenant_id_campaign_id", "push_sends", ["tenant_id", "campaign", "id"]
    )
    op.create_index("ix_push_sends_due", "push_sends", ["status", "send_at"])

    op.create_table(
        "push_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=4096), nullable=False),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("error", sa.String(length=60), nullable=True),
        *_tenant("push_deliveries"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "send_id"],
            ["push_sends.tenant_id", "push_sends.id"],
            name=op.f("fk_push_deliveries_tenant_id_send_id_push_sends"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_deliveries")),
        sa.UniqueConstraint(
            "tenant_id",
            "send_id",
            "device_id",
            name=op.f("uq_push_deliveries_tenant_id_send_id_device_id"),
        ),
    )
    op.create_index(op.f("ix_push_deliveries_tenant_id"), "push_deliveries", ["tenant_id"])
    op.create_index("ix_push_deliveries_send_id_status", "push_deliveries", ["send_id", "status"])


def downgrade() -> None:
    op.drop_table("push_deliveries")
    op.drop_table("push_sends")
    op.drop_table("push_devices")
