"""customer accounts: confirmation, the person's own phone and birthday, mail preferences,
a personal code, deletion, and server-side customer sessions

Revision ID: core_0008
Revises: core_0007
Create Date: 2026-12-05 01:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0008"
down_revision = "core_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("email_confirmed_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("phone", sa.String(length=40)))
        batch.add_column(sa.Column("birthday", sa.Date()))
        batch.add_column(
            sa.Column("mail_preferences", sa.JSON(), nullable=False, server_default="{}")
        )
        batch.add_column(sa.Column("personal_code", sa.String(length=16)))
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True)))
        batch.create_unique_constraint(op.f("uq_customers_personal_code"), ["personal_code"])
    op.create_table(
        "customer_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("password_stamp", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_sessions_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_customer_sessions_token_hash")),
    )
    op.create_index(
        op.f("ix_customer_sessions_customer_id"),
        "customer_sessions",
        ["customer_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_customer_sessions_customer_id"), table_name="customer_sessions")
    op.drop_table("customer_sessions")
    with op.batch_alter_table("customers") as batch:
        batch.drop_constraint(op.f("uq_customers_personal_code"), type_="unique")
        for column in (
            "deleted_at",
            "personal_code",
            "mail_preferences",
            "birthday",
            "phone",
            "email_confirmed_at",
        ):
            batch.drop_column(column)
