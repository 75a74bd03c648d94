"""memberships: the names a merchant records, on the membership

What a merchant records about a person belongs to that merchant's membership; the
shared account keeps only what the person entered themselves. Until now the names
were the account's, so a merchant enrolling an e-mail saw the names another
merchant had typed. Each membership gets a copy of its account's names (each
merchant keeps what it sees today), and an account whose person never set a
password (never signed in: every name on it was typed by a merchant) is blanked.

Revision ID: core_0005
Revises: core_0004
Create Date: 2026-12-04 21:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0005"
down_revision = "core_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN on both databases: a server default fills the existing rows.
    op.add_column(
        "memberships",
        sa.Column("first_name", sa.String(length=120), server_default="", nullable=False),
    )
    op.add_column(
        "memberships",
        sa.Column("last_name", sa.String(length=120), server_default="", nullable=False),
    )
    op.execute(
        "UPDATE memberships SET"
        " first_name = (SELECT c.first_name FROM customers c"
        "               WHERE c.id = memberships.customer_id),"
        " last_name = (SELECT c.last_name FROM customers c"
        "              WHERE c.id = memberships.customer_id)"
    )
    # The search text already holds these very names: it needs no change.
    op.execute("UPDATE customers SET first_name = '', last_name = '' WHERE password_hash IS NULL")


def downgrade() -> None:
    # Back to names on the account: a blanked account takes its first membership's.
    first = (
        "(SELECT m.{0} FROM memberships m WHERE m.customer_id = customers.id ORDER BY m.id LIMIT 1)"
    )
    op.execute(
        f"UPDATE customers SET first_name = COALESCE({first.format('first_name')}, ''),"
        f" last_name = COALESCE({first.format('last_name')}, '')"
        " WHERE first_name = '' AND last_name = ''"
    )
    # SQLite (3.35+) drops a plain column in place: a batch copy of the table would
    # drop the table that the ledger's foreign keys point at.
    op.drop_column("memberships", "last_name")
    op.drop_column("memberships", "first_name")
