"""member totals: each merchant's customers and points outstanding, kept by triggers on
memberships in the same transaction as the change, for Inicio (core.loyalty.member_totals);
memberships indexed by (tenant_id, created_at) for Inicio's live count of today's joins

Revision ID: core_0015_inicio
Revises: core_0014
Create Date: 2026-12-05 10:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0015_inicio"
down_revision = "core_0014"
branch_labels = None
depends_on = None

# PostgreSQL. Statement-level triggers with transition tables: a COPY or an
# INSERT … SELECT of a million members adds to the totals once, not a million times.
# A statement that changes no balance and no membership count (a name edited) takes
# no stripe. member_totals_add writes a stripe only under its transaction-level
# advisory lock (space 28794 = 0x707A, beside the coupons' 0x0C0F), taken with
# pg_try_…: a transaction waits for a stripe only when the other 15 are held too
# (PostgreSQL's deadlock detector settles a cycle then), so concurrent earns of one
# merchant do not queue behind one row, and no transaction waits while holding one.
PG_FUNCTIONS = [
    """
    CREATE FUNCTION member_totals_add(t integer, dm bigint, dp bigint) RETURNS void AS $$
    DECLARE
        first integer := pg_backend_pid() % 16;
        s integer;
    BEGIN
        IF dm = 0 AND dp = 0 THEN
            RETURN;
        END IF;
        -- Whoever holds a stripe's advisory lock is the only writer of its row: try
        -- this backend's stripe, then the next ones, and wait only when all 16 are held.
        FOR i IN 0..16 LOOP
            s := (first + i) % 16;
            IF i = 16 THEN
                PERFORM pg_advisory_xact_lock(28794, (t % 134217728) * 16 + s);
            ELSIF NOT pg_try_advisory_xact_lock(28794, (t % 134217728) * 16 + s) THEN
                CONTINUE;
            END IF;
            UPDATE member_totals SET members = members + dm, points = points + dp
            WHERE tenant_id = t AND stripe = s;
            IF NOT FOUND THEN
                INSERT INTO member_totals (tenant_id, stripe, members, points)
                VALUES (t, s, dm, dp);
            END IF;
            RETURN;
        END LOOP;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE FUNCTION member_totals_change() RETURNS trigger AS $$
    DECLARE
        change record;
    BEGIN
        IF TG_OP = 'INSERT' THEN
            FOR change IN
                SELECT tenant_id, count(*) AS dm, coalesce(sum(balance), 0) AS dp
                FROM new_rows GROUP BY tenant_id ORDER BY tenant_id
            LOOP
                PERFORM member_totals_add(change.tenant_id, change.dm::bigint, change.dp::bigint);
            END LOOP;
        ELSIF TG_OP = 'DELETE' THEN
            FOR change IN
                SELECT tenant_id, -count(*) AS dm, -coalesce(sum(balance), 0) AS dp
                FROM old_rows GROUP BY tenant_id ORDER BY tenant_id
            LOOP
                PERFORM member_totals_add(change.tenant_id, change.dm::bigint, change.dp::bigint);
            END LOOP;
        ELSE
            FOR change IN
                SELECT tenant_id, sum(m) AS dm, sum(p) AS dp FROM (
                    SELECT tenant_id, 1 AS m, balance::bigint AS p FROM new_rows
                    UNION ALL
                    SELECT tenant_id, -1, -balance::bigint FROM old_rows
                ) AS changed
                GROUP BY tenant_id HAVING sum(m) <> 0 OR sum(p) <> 0 ORDER BY tenant_id
            LOOP
                PERFORM member_totals_add(change.tenant_id, change.dm::bigint, change.dp::bigint);
            END LOOP;
        END IF;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER member_totals_insert AFTER INSERT ON memberships
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION member_totals_change()
    """,
    """
    CREATE TRIGGER member_totals_update AFTER UPDATE ON memberships
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION member_totals_change()
    """,
    """
    CREATE TRIGGER member_totals_delete AFTER DELETE ON memberships
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION member_totals_change()
    """,
]

# SQLite: row triggers only, and one writer at a time: one row per tenant.
SQLITE_UPSERT = """
    INSERT INTO member_totals (tenant_id, stripe, members, points) VALUES ({values})
    ON CONFLICT (tenant_id, stripe) DO UPDATE SET
        members = members + excluded.members, points = points + excluded.points;
"""
SQLITE_TRIGGERS = [
    "CREATE TRIGGER member_totals_insert AFTER INSERT ON memberships BEGIN"
    + SQLITE_UPSERT.format(values="NEW.tenant_id, 0, 1, NEW.balance")
    + "END",
    "CREATE TRIGGER member_totals_update AFTER UPDATE OF balance, tenant_id ON memberships "
    "WHEN NEW.balance <> OLD.balance OR NEW.tenant_id <> OLD.tenant_id BEGIN"
    + SQLITE_UPSERT.format(values="OLD.tenant_id, 0, -1, -OLD.balance")
    + SQLITE_UPSERT.format(values="NEW.tenant_id, 0, 1, NEW.balance")
    + "END",
    "CREATE TRIGGER member_totals_delete AFTER DELETE ON memberships BEGIN"
    + SQLITE_UPSERT.format(values="OLD.tenant_id, 0, -1, -OLD.balance")
    + "END",
]


def upgrade() -> None:
    op.create_table(
        "member_totals",
        sa.Column("stripe", sa.Integer(), nullable=False),
        sa.Column("members", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_member_totals_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "stripe", name=op.f("pk_member_totals")),
    )
    op.create_index(
        op.f("ix_member_totals_tenant_id"), "member_totals", ["tenant_id"], unique=False
    )
    # The triggers first: creating one locks memberships against writes until this
    # transaction commits, so the back-fill below misses no change made meanwhile.
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_FUNCTIONS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    # Inicio counts today's new customers live: by this index, not a pass over them all.
    op.create_index(
        "ix_memberships_tenant_id_created_at",
        "memberships",
        ["tenant_id", "created_at"],
        unique=False,
    )
    op.execute(
        "INSERT INTO member_totals (tenant_id, stripe, members, points) "
        "SELECT tenant_id, 0, count(*), coalesce(sum(balance), 0) "
        "FROM memberships GROUP BY tenant_id"
    )


def downgrade() -> None:
    op.drop_index("ix_memberships_tenant_id_created_at", table_name="memberships")
    for name in ("member_totals_insert", "member_totals_update", "member_totals_delete"):
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON memberships")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS member_totals_change()")
        op.execute("DROP FUNCTION IF EXISTS member_totals_add(integer, bigint, bigint)")
    op.drop_index(op.f("ix_member_totals_tenant_id"), table_name="member_totals")
    op.drop_table("member_totals")
