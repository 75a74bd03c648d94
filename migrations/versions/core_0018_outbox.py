"""outbox: a committed transaction's announcements and jobs, until a relay queues them

Revision ID: core_0018_outbox
Revises: core_0017_tenant_indexes
Create Date: 2026-12-05 14:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0018_outbox"
down_revision = "core_0017_tenant_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # PRIMARY KEY (tenant_id, id) on PostgreSQL, and its plain index on (id), come from
    # core/host/keys.py's DDL hooks.
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_outbox_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    if op.get_bind().dialect.name != "postgresql":  # there the key (tenant_id, id) serves
        op.create_index(op.f("ix_outbox_tenant_id"), "outbox", ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_tenant_id"), table_name="outbox")
    op.drop_table("outbox")
