"""purchase returns: a purchase returned in parts (lines or an amount), each part's
points taken back in proportion

Revision ID: core_0014
Revises: core_0013
Create Date: 2026-12-05 07:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0014"
down_revision = "core_0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("purchases") as batch:
        batch.add_column(
            sa.Column(
                "returned_amount",
                sa.Numeric(precision=12, scale=2),
                nullable=False,
                server_default="0",
            )
        )
    with op.batch_alter_table("purchase_lines") as batch:
        batch.add_column(
            sa.Column("returned_quantity", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "purchase_returns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purchase_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("points_not_recovered", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("actor_kind", sa.String(length=12), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_purchase_returns_amount_not_negative")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "purchase_id"],
            ["purchases.tenant_id", "purchases.id"],
            name=op.f("fk_purchase_returns_tenant_id_purchase_id_purchases"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "member_id"],
            ["memberships.tenant_id", "memberships.id"],
            name=op.f("fk_purchase_returns_tenant_id_member_id_memberships"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "entry_id"],
            ["ledger_entries.tenant_id", "ledger_entries.id"],
            name=op.f("fk_purchase_returns_tenant_id_entry_id_ledger_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_purchase_returns_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_returns")),
        sa.UniqueConstraint(
            "tenant_id",
            "idempotency_key",
            name=op.f("uq_purchase_returns_tenant_id_idempotency_key"),
        ),
    )
    op.create_index(
        "ix_purchase_returns_purchase_id", "purchase_returns", ["purchase_id"], unique=False
    )
    op.create_index(
        op.f("ix_purchase_returns_tenant_id"), "purchase_returns", ["tenant_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_purchase_returns_tenant_id"), table_name="purchase_returns")
    op.drop_index("ix_purchase_returns_purchase_id", table_name="purchase_returns")
    op.drop_table("purchase_returns")
    with op.batch_alter_table("purchase_lines") as batch:
        batch.drop_column("returned_quantity")
    with op.batch_alter_table("purchases") as batch:
        batch.drop_column("returned_amount")
