"""keys a tenant-distributed cluster accepts: on PostgreSQL, every tenant-owned
table's primary key becomes (tenant_id, id), with a plain index on (id) for the
ORM's `WHERE id = ?`, and the UNIQUE (tenant_id, id) it made redundant goes

Tables made from now on get that key from core/host/keys.py's DDL hooks; this
rewrites the keys of the tables that exist, core's and plugins', read from the
catalogue. The foreign keys that point at a table are dropped and made again on
its new key (each is validated again: a scan of the referring table). SQLite keeps
(id): only a one-column INTEGER PRIMARY KEY auto-numbers there.

Revision ID: core_0016_keys
Revises: core_0015_inicio
Create Date: 2026-12-05 10:40:00.000000
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Connection, UniqueConstraint, text

revision = "core_0016_keys"
down_revision = "core_0015_inicio"
branch_labels = None
depends_on = None


def _tenant_owned(conn: Connection) -> set[str]:
    """The tables with a NOT NULL tenant_id (this migration reads them as they are now,
    not from core/host/keys.py, which may change after it)."""
    return set(
        conn.execute(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid"
                " AND a.attname = 'tenant_id' AND a.attnotnull AND NOT a.attisdropped"
                " WHERE c.relnamespace = current_schema()::regnamespace"
                " AND c.relkind IN ('r', 'p')"
            )
        ).scalars()
    )


def _id_index(table: str) -> str:
    return f"ix_{table}_id"


def _primary_key(conn: Connection, table: str) -> tuple[str, list[str]]:
    row = conn.execute(
        text(
            "SELECT k.conname, ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY"
            " AS u(n, o) JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n"
            " ORDER BY u.o) FROM pg_constraint k"
            " WHERE k.conrelid = CAST(:t AS regclass) AND k.contype = 'p'"
        ),
        {"t": f'"{table}"'},
    ).one()
    return row[0], list(row[1])


def _tenant_keys(conn: Connection, table: str) -> list[str]:
    """The table's unique constraints on exactly (tenant_id, id)."""
    return list(
        conn.execute(
            text(
                "SELECT k.conname FROM pg_constraint k"
                " WHERE k.conrelid = CAST(:t AS regclass) AND k.contype = 'u'"
                " AND (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a"
                "      WHERE a.attrelid = k.conrelid AND a.attnum = ANY(k.conkey))"
                "     = ARRAY['id', 'tenant_id']"
            ),
            {"t": f'"{table}"'},
        ).scalars()
    )


Reference = tuple[str, str, str, str]  # table, constraint, definition, target


def _drop_references(conn: Connection, tables: set[str]) -> list[Reference]:
    """Drop every foreign key pointing at one of `tables`; return them to be made again."""
    references = [
        (row[0], row[1], row[2], row[3])
        for row in conn.execute(
            text(
                "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid), r.relname"
                " FROM pg_constraint k"
                " JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid"
                " WHERE k.contype = 'f' AND r.relname = ANY(:tables)"
                " AND r.relnamespace = current_schema()::regnamespace ORDER BY 1, 2"
            ),
            {"tables": sorted(tables)},
        )
    ]
    for table, name, _, _ in references:
        conn.execute(text(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"'))
    return references


def _restore_references(conn: Connection, references: list[Reference]) -> None:
    for table, name, definition, _ in references:
        conn.execute(text(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}'))


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    owned = _tenant_owned(conn)
    keys = {table: _primary_key(conn, table) for table in owned}
    redundant = {table: _tenant_keys(conn, table) for table in owned}
    changing = {t for t in owned if "tenant_id" not in keys[t][1] or redundant[t]}
    references = _drop_references(conn, changing)
    for table in sorted(changing):
        name, columns = keys[table]
        if "tenant_id" not in columns:
            conn.execute(text(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"'))
            conn.execute(
                text(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" PRIMARY KEY (tenant_id, id)')
            )
            conn.execute(text(f'CREATE INDEX IF NOT EXISTS "{_id_index(table)}" ON "{table}" (id)'))
        for unique in redundant[table]:
            conn.execute(text(f'ALTER TABLE "{table}" DROP CONSTRAINT "{unique}"'))
    _restore_references(conn, references)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    owned = _tenant_owned(conn)
    keys = {table: _primary_key(conn, table) for table in owned}
    changing = {t for t in owned if keys[t][1] == ["tenant_id", "id"]}
    references = _drop_references(conn, changing)
    # The (tenant_id, id) key comes back where the models declare it (`tenant_key()`)
    # or a foreign key needs it.
    metadata = op.get_context().opts["target_metadata"]
    declared = {
        name
        for name, table in metadata.tables.items()
        if "tenant_id" in table.c
        and not table.c.tenant_id.nullable
        and any(
            set(c.columns.keys()) == {"tenant_id", "id"}
            for c in table.constraints
            if isinstance(c, UniqueConstraint)
        )
    }
    referenced = {target for _, _, _, target in references}
    for table in sorted(changing):
        name, _ = keys[table]
        conn.execute(text(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"'))
        conn.execute(text(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" PRIMARY KEY (id)'))
        conn.execute(text(f'DROP INDEX IF EXISTS "{_id_index(table)}"'))
        if (table in declared or table in referenced) and not _tenant_keys(conn, table):
            conn.execute(
                text(
                    f'ALTER TABLE "{table}" ADD CONSTRAINT "uq_{table}_tenant_id_id"'
                    " UNIQUE (tenant_id, id)"
                )
            )
    _restore_references(conn, references)
