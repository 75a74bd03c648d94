"""api: tokens (hashes) and the answers kept for idempotent retries

Revision ID: api_0001
Revises:
Create Date: 2026-11-23 04:00:51.354270
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.sdk import UTCDateTime

revision = "api_0001"
down_revision = None
branch_labels = ("api",)
depends_on = "core_0002"


def upgrade() -> None:
    op.create_table(
        "api_idempotent_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_api_idempotent_responses_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_idempotent_responses")),
        sa.UniqueConstraint(
            "tenant_id", "key", name=op.f("uq_api_idempotent_responses_tenant_id_key")
        ),
    )
    op.create_index(
        "ix_api_idempotent_responses_created_at",
        "api_idempotent_responses",
        ["created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_api_idempotent_responses_tenant_id"),
        "api_idempotent_responses",
        ["tenant_id"],
        unique=False,
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=400), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_api_tokens_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_api_tokens_tenant_id_id")),
        sa.UniqueConstraint(
            "tenant_id", "token_hash", name=op.f("uq_api_tokens_tenant_id_token_hash")
        ),
    )
    op.create_index(op.f("ix_api_tokens_tenant_id"), "api_tokens", ["tenant_id"], unique=False)
    op.create_index("ix_api_tokens_token_hash", "api_tokens", ["token_hash"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_api_tokens_token_hash", table_name="api_tokens")
    op.drop_index(op.f("ix_api_tokens_tenant_id"), table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_index(
        op.f("ix_api_idempotent_responses_tenant_id"), table_name="api_idempotent_responses"
    )
    op.drop_index("ix_api_idempotent_responses_created_at", table_name="api_idempotent_responses")
    op.drop_table("api_idempotent_responses")
