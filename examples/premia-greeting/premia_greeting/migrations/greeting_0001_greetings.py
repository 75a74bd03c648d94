"""greeting: one greeting per member

Revision ID: greeting_0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "greeting_0001"
down_revision = None
branch_labels = ("greeting",)
depends_on = "core_0002"


def upgrade() -> None:
    op.create_table(
        "greeting_greetings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_greeting_greetings_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_greeting_greetings")),
        sa.UniqueConstraint(
            "tenant_id", "member_id", name=op.f("uq_greeting_greetings_tenant_id_member_id")
        ),
    )
    op.create_index(op.f("ix_greeting_greetings_tenant_id"), "greeting_greetings", ["tenant_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_greeting_greetings_tenant_id"), table_name="greeting_greetings")
    op.drop_table("greeting_greetings")
