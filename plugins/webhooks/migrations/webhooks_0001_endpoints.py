"""webhooks: endpoints, messages, deliveries and their attempts

Revision ID: webhooks_0001
Revises:
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "webhooks_0001"
down_revision = None
branch_labels = ("webhooks",)
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


def _key(table: str) -> list:
    return [
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f(f"uq_{table}_tenant_id_id")),
    ]


def upgrade() -> None:
    op.create_table(
        "webhooks_endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *_tenant("webhooks_endpoints"),
        *_key("webhooks_endpoints"),
    )
    op.create_index(op.f("ix_webhooks_endpoints_tenant_id"), "webhooks_endpoints", ["tenant_id"])

    op.create_table(
        "webhooks_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *_tenant("webhooks_messages"),
        *_key("webhooks_messages"),
        sa.UniqueConstraint("tenant_id", "key", name=op.f("uq_webhooks_messages_tenant_id_key")),
        sa.UniqueConstraint("tenant_id", "uid", name=op.f("uq_webhooks_messages_tenant_id_uid")),
    )
    op.create_index(op.f("ix_webhooks_messages_tenant_id"), "webhooks_messages", ["tenant_id"])
    op.create_index(op.f("ix_webhooks_messages_member_id"), "webhooks_messages", ["member_id"])

    op.create_table(
        "webhooks_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *_tenant("webhooks_deliveries"),
        *_key("webhooks_deliveries"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "endpoint_id"],
            ["webhooks_endpoints.tenant_id", "webhooks_endpoints.id"],
            name=op.f("fk_webhooks_deliveries_tenant_id_endpoint_id_webhooks_endpoints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "message_id"],
            ["webhooks_messages.tenant_id", "webhooks_messages.id"],
            name=op.f("fk_webhooks_deliveries_tenant_id_message_id_webhooks_messages"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "tenant_id",
            "endpoint_id",
            "message_id",
            name=op.f("uq_webhooks_deliveries_tenant_id_endpoint_id_message_id"),
        ),
    )
    op.create_index(op.f("ix_webhooks_deliveries_tenant_id"), "webhooks_deliveries", ["tenant_id"])
    op.create_index("ix_webhooks_deliveries_due", "webhooks_deliveries", ["status", "next_at"])
    op.create_index(
        "ix_webhooks_deliveries_endpoint_id_id", "webhooks_deliveries", ["endpoint_id", "id"]
    )

    op.create_table(
        "webhooks_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        *_tenant("webhooks_attempts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks_attempts")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "delivery_id"],
            ["webhooks_deliveries.tenant_id", "webhooks_deliveries.id"],
            name=op.f("fk_webhooks_attempts_tenant_id_delivery_id_webhooks_deliveries"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(op.f("ix_webhooks_attempts_tenant_id"), "webhooks_attempts", ["tenant_id"])
    op.create_index("ix_webhooks_attempts_delivery_id", "webhooks_attempts", ["delivery_id"])


def downgrade() -> None:
    op.drop_table("webhooks_attempts")
    op.drop_table("webhooks_deliveries")
    op.drop_table("webhooks_messages")
    op.drop_table("webhooks_endpoints")
