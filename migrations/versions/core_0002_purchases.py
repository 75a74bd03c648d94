"""purchases and their line items; ledger entries gain purchase_id and label

Revision ID: core_0002
Revises: core_0001
Create Date: 2026-11-23 03:50:02.622516
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.host.db

revision = "core_0002"
down_revision = "core_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "purchases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=True),
        sa.Column("reference", sa.String(length=120), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("actor_kind", sa.String(length=12), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("points_not_recovered", sa.Integer(), nullable=True),
        sa.Column("created_at", core.host.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("returned_at", core.host.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_purchases_amount_positive")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "location_id"],
            ["locations.tenant_id", "locations.id"],
            name=op.f("fk_purchases_tenant_id_location_id_locations"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "member_id"],
            ["memberships.tenant_id", "memberships.id"],
            name=op.f("fk_purchases_tenant_id_member_id_memberships"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_purchases_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchases")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_purchases_tenant_id_id")),
        sa.UniqueConstraint(
            "tenant_id", "idempotency_key", name=op.f("uq_purchases_tenant_id_idempotency_key")
        ),
    )
    op.create_index(
        "ix_purchases_member_id_created_at", "purchases", ["member_id", "created_at"], unique=False
    )
    op.create_index(op.f("ix_purchases_tenant_id"), "purchases", ["tenant_id"], unique=False)
    op.create_index(
        "ix_purchases_tenant_id_created_at", "purchases", ["tenant_id", "created_at"], unique=False
    )
    op.create_table(
        "purchase_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purchase_id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=True),
        sa.Column("product_group", sa.String(length=64), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_purchase_lines_quantity_positive")),
        sa.CheckConstraint(
            "unit_price >= 0", name=op.f("ck_purchase_lines_unit_price_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "purchase_id"],
            ["purchases.tenant_id", "purchases.id"],
            name=op.f("fk_purchase_lines_tenant_id_purchase_id_purchases"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_purchase_lines_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_lines")),
    )
    op.create_index(
        "ix_purchase_lines_purchase_id", "purchase_lines", ["purchase_id"], unique=False
    )
    op.create_index(
        op.f("ix_purchase_lines_tenant_id"), "purchase_lines", ["tenant_id"], unique=False
    )
    # batch: SQLite cannot add a foreign key to an existing table in place
    with op.batch_alter_table("ledger_entries") as batch:
        batch.add_column(sa.Column("purchase_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("label", sa.String(length=120), nullable=True))
        batch.create_index("ix_ledger_entries_purchase_id", ["purchase_id"], unique=False)
        batch.create_foreign_key(
            op.f("fk_ledger_entries_tenant_id_purchase_id_purchases"),
            "purchases",
            ["tenant_id", "purchase_id"],
            ["tenant_id", "id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries") as batch:
        batch.drop_constraint(
            op.f("fk_ledger_entries_tenant_id_purchase_id_purchases"), type_="foreignkey"
        )
        batch.drop_index("ix_ledger_entries_purchase_id")
        batch.drop_column("label")
        batch.drop_column("purchase_id")
    op.drop_index(op.f("ix_purchase_lines_tenant_id"), table_name="purchase_lines")
    op.drop_index("ix_purchase_lines_purchase_id", table_name="purchase_lines")
    op.drop_table("purchase_lines")
    op.drop_index("ix_purchases_tenant_id_created_at", table_name="purchases")
    op.drop_index(op.f("ix_purchases_tenant_id"), table_name="purchases")
    op.drop_index("ix_purchases_member_id_created_at", table_name="purchases")
    op.drop_table("purchases")
