"""Keys a tenant-distributed cluster accepts: on PostgreSQL, a tenant-owned table's
primary key is (tenant_id, id).

A cluster that distributes tables by `tenant_id` (Citus) needs the distribution
column in every primary key, unique key and foreign key. The models keep `(id)` as
their key (the ORM's identity, and SQLite's rowid, which only a one-column INTEGER
PRIMARY KEY auto-numbers); the DDL hooks below render it on PostgreSQL instead:

- a tenant-owned table (a NOT NULL `tenant_id` column) gets PRIMARY KEY
  (tenant_id, id), in `create_all` and in every migration's `op.create_table`, the
  plugins' included, without the author writing anything;
- the UNIQUE (tenant_id, id) that `tenant_key()` declares for `tenant_fk` is left out
  of CREATE TABLE there: the primary key is that key, and the foreign keys use it;
- a plain index on (id) is created beside it, because the ORM's flush still writes
  `UPDATE … WHERE id = ?` and PostgreSQL cannot skip-scan (tenant_id, id) for it.
  docs/scaling.md gives the EXPLAINs behind that choice.
- the plain index on (tenant_id) that `TenantOwned` declares (SQLite's key is (id):
  it needs it) is left out there: the primary key's leading column serves every
  `WHERE tenant_id = ?`, and each index is written on every insert (core_0017
  dropped those that existed; `redundant_tenant_indexes` finds any left).

`key_problems` reads a database's catalogue and names every key a cluster would
refuse (the schema test runs it after `premia db upgrade`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    Connection,
    Index,
    PrimaryKeyConstraint,
    Table,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateIndex, CreateTable, DropIndex

TENANT = "tenant_id"


def is_distributed(table: Table) -> bool:
    """A table a cluster distributes by tenant: it has a NOT NULL `tenant_id`."""
    column = table.c.get(TENANT)
    return column is not None and not column.nullable


def _keyed_by_tenant(table: Table) -> bool:
    """A distributed table whose declared key lacks tenant_id (so the hooks add it)."""
    return (
        is_distributed(table)
        and bool(table.primary_key.columns)
        and (TENANT not in table.primary_key.columns)
    )


def _is_tenant_key(constraint: UniqueConstraint) -> bool:
    """The UNIQUE (tenant_id, <primary key>) that the composite primary key replaces."""
    table = constraint.table
    wanted = {TENANT, *table.primary_key.columns.keys()}
    return _keyed_by_tenant(table) and set(constraint.columns.keys()) == wanted


def is_tenant_index(index: Index) -> bool:
    """The plain index on (tenant_id) of a table keyed by (tenant_id, id) on
    PostgreSQL: redundant there with the primary key."""
    table = index.table
    if index.unique or table is None or [c.name for c in index.columns] != [TENANT]:
        return False
    key = [c.name for c in table.primary_key.columns]
    return _keyed_by_tenant(table) or (is_distributed(table) and key[:1] == [TENANT])


def tenant_index_name(table: str) -> str:
    """The name the naming convention gives `TenantOwned`'s index on (tenant_id)."""
    return f"ix_{table}_tenant_id"


def id_index_name(table: str) -> str:
    """The plain index on the declared key (`id`), named as the naming convention would."""
    return f"ix_{table}_id"


@compiles(PrimaryKeyConstraint, "postgresql")
def _primary_key(constraint: PrimaryKeyConstraint, compiler: Any, **kw: Any) -> str:
    if not _keyed_by_tenant(constraint.table):
        return compiler.visit_primary_key_constraint(constraint, **kw)
    columns = [TENANT, *(c.name for c in constraint.columns)]
    return (
        compiler.define_constraint_preamble(constraint, **kw)
        + "PRIMARY KEY ({})".format(", ".join(compiler.preparer.quote(c) for c in columns))
        + compiler.define_constraint_deferrability(constraint)
    )


@compiles(UniqueConstraint, "postgresql")
def _unique(constraint: UniqueConstraint, compiler: Any, **kw: Any) -> str | None:
    # Only inside CREATE TABLE (None drops it from the list); an ALTER TABLE … ADD
    # of one is left as written, and the keys migration removes it afterwards.
    if isinstance(compiler.statement, CreateTable) and _is_tenant_key(constraint):
        return None
    return compiler.visit_unique_constraint(constraint, **kw)


@compiles(CreateIndex, "postgresql")
def _create_index(create: CreateIndex, compiler: Any, **kw: Any) -> str:
    # A statement must be sent (create_all executes what this returns): a comment is
    # PostgreSQL's empty query, which does nothing.
    if is_tenant_index(create.element):
        return f"-- {create.element.name}: served by the primary key (tenant_id, id)"
    return compiler.visit_create_index(create, **kw)


@compiles(DropIndex, "postgresql")
def _drop_index(drop: DropIndex, compiler: Any, **kw: Any) -> str:
    # By name too: a migration's `op.drop_index` names the index of a table it does not
    # describe, and the index may be gone (dropped by core_0017, or never made).
    index = drop.element
    if is_tenant_index(index) or (
        index.table is not None and index.name == tenant_index_name(index.table.name)
    ):
        return f'DROP INDEX IF EXISTS "{index.name}"'
    return compiler.visit_drop_index(drop, **kw)


@event.listens_for(Table, "after_create")
def _index_id(table: Table, connection: Connection, **kw: Any) -> None:
    if connection.dialect.name == "postgresql" and _keyed_by_tenant(table):
        columns = ", ".join(f'"{c.name}"' for c in table.primary_key.columns)
        name = id_index_name(table.name)
        connection.execute(text(f'CREATE INDEX "{name}" ON "{table.name}" ({columns})'))


def comparison_filter(dialect: str) -> Callable[..., bool]:
    """Alembic's `include_object` for comparing a database with the models: on
    PostgreSQL the id index the hooks add and the tenant key they leave out are no
    differences (elsewhere the schema is the models' own)."""

    def include_object(
        obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        if dialect != "postgresql" or compare_to is not None:
            return True
        if type_ == "index" and reflected:
            table = obj.table
            return not (is_distributed(table) and name == id_index_name(table.name))
        if type_ == "index" and not reflected:
            return not is_tenant_index(obj)
        if type_ == "unique_constraint" and not reflected:
            return not _is_tenant_key(obj)
        return True

    return include_object


# --- the catalogue ---------------------------------------------------------

_COLUMNS = """ARRAY(SELECT a.attname::text FROM unnest({keys}) WITH ORDINALITY AS u(n, o)
      JOIN pg_attribute a ON a.attrelid = {table} AND a.attnum = u.n ORDER BY u.o)"""

_CONSTRAINTS = f"""
SELECT c.relname AS table_name, k.conname AS name, k.contype AS kind,
       {_COLUMNS.format(keys="k.conkey", table="k.conrelid")} AS columns,
       r.relname AS target,
       {_COLUMNS.format(keys="k.confkey", table="k.confrelid")} AS target_columns
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
LEFT JOIN pg_class r ON r.oid = k.confrelid
WHERE c.relnamespace = current_schema()::regnamespace AND k.contype IN ('p', 'u', 'f')
UNION ALL
SELECT c.relname, i.relname, 'i',
       {_COLUMNS.format(keys="x.indkey::int2[]", table="x.indrelid")}, NULL, NULL
FROM pg_index x
JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_class i ON i.oid = x.indexrelid
WHERE c.relnamespace = current_schema()::regnamespace AND x.indisunique
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)
ORDER BY 1, 2
"""

_TENANT_OWNED = """
SELECT c.relname FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
  AND a.attnotnull AND NOT a.attisdropped
"""


def tenant_owned_tables(connection: Connection) -> set[str]:
    """The database's tables with a NOT NULL tenant_id (PostgreSQL)."""
    return set(connection.execute(text(_TENANT_OWNED)).scalars())


def key_problems(connection: Connection) -> list[str]:
    """Every key of a PostgreSQL database that a cluster distributed by tenant_id
    would refuse, one sentence each (empty: the schema is ready)."""
    owned = tenant_owned_tables(connection)
    problems = []
    keyed: set[str] = set()
    for row in connection.execute(text(_CONSTRAINTS)):
        columns = list(row.columns)
        if row.kind == "f" and row.target in owned and row.table_name not in owned:
            problems.append(
                f"{row.table_name}: foreign key {row.name} to {row.target}, a tenant-owned "
                "table, from a table without a NOT NULL tenant_id"
            )
        if row.table_name not in owned:
            continue
        if row.kind == "p":
            keyed.add(row.table_name)
        if row.kind in ("p", "u", "i") and TENANT not in columns:
            what = {"p": "primary key", "u": "unique key", "i": "unique index"}[row.kind]
            problems.append(f"{row.table_name}: {what} {row.name} ({', '.join(columns)})")
        if row.kind == "f" and row.target in owned:
            pairs = list(zip(columns, row.target_columns, strict=True))
            if (TENANT, TENANT) not in pairs:
                problems.append(
                    f"{row.table_name}: foreign key {row.name} ({', '.join(columns)}) "
                    f"to {row.target} ({', '.join(row.target_columns)}) without tenant_id"
                )
    problems += [f"{table}: no primary key" for table in sorted(owned - keyed)]
    return problems


_REDUNDANT = """
SELECT c.relname, i.relname FROM pg_index x
JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = x.indkey[0]
WHERE c.relnamespace = current_schema()::regnamespace AND NOT x.indisunique
  AND x.indnkeyatts = 1 AND x.indpred IS NULL AND x.indexprs IS NULL
  AND a.attname = 'tenant_id'
  AND EXISTS (SELECT 1 FROM pg_index k WHERE k.indrelid = x.indrelid AND k.indisprimary
              AND k.indkey[0] = x.indkey[0])
ORDER BY 1, 2
"""


def redundant_tenant_indexes(connection: Connection) -> list[tuple[str, str]]:
    """(table, index) of every plain index on (tenant_id) alone beside a primary key
    that begins with tenant_id (PostgreSQL): each costs a write per row, serves nothing
    the primary key does not."""
    return [(row[0], row[1]) for row in connection.execute(text(_REDUNDANT))]
