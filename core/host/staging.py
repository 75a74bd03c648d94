"""Staging tables: rows a set-based service works on, loaded in one go.

A temporary table, private to the connection and emptied before each use, filled
with COPY on PostgreSQL (psycopg 3's `cursor.copy`: one round trip for the lot) and
with one multi-row INSERT elsewhere (SQLite, the embedded default). The service
then reads it with plain set-based statements in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from core.host.db import driver_connection, session_tenant_id


def stage(
    conn: Connection, name: str, columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[Any]]
) -> None:
    """(Re)create the temporary table `name` with `columns` ((name, SQL type) pairs),
    empty, and load `rows` into it (each a sequence in the columns' order)."""
    postgres = conn.dialect.name == "postgresql"
    definition = ", ".join(f"{column} {kind}" for column, kind in columns)
    conn.execute(text(f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} ({definition})"))
    # TRUNCATE leaves no dead rows in a table that lives as long as the connection.
    conn.execute(text(f"TRUNCATE {name}" if postgres else f"DELETE FROM {name}"))
    names = ", ".join(column for column, _kind in columns)
    if postgres:
        raw = driver_connection(conn)
        with raw.cursor() as cursor, cursor.copy(f"COPY {name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.execute(text(f"ANALYZE {name}"))  # temporary tables are never auto-analysed
        return
    marks = ", ".join(f":{column}" for column, _kind in columns)
    keys = [column for column, _kind in columns]
    batch = [dict(zip(keys, row, strict=True)) for row in rows]
    if batch:
        conn.execute(text(f"INSERT INTO {name} ({names}) VALUES ({marks})"), batch)


def write_rows(session: Session, model: type, rows: Iterable[dict[str, Any]]) -> int:
    """Insert many rows of a tenant-owned `model` (a plugin's report lines, say) in one
    go: COPY on PostgreSQL, one executemany elsewhere. Each row is a dict of the same
    columns; `tenant_id` is the session's tenant's, set here (scoped by construction); the
    columns' Python-side defaults are filled in (callables called once). No ORM
    objects are made (no attribute events, no unit of work): for thousands of rows
    at once. Returns how many were written."""
    tenant_id = session_tenant_id(session)
    table = model.__table__
    rows = [{**row, "tenant_id": tenant_id} for row in rows]
    session.flush()  # rows the ORM holds that these may refer to
    if not rows:
        return 0
    # The columns' Python-side defaults (COPY knows only the server's), as an
    # executemany or the ORM would fill them in, once for the lot.
    defaults = {}
    for column in table.columns:
        default = column.default
        if column.name in rows[0] or default is None or default.is_sequence:
            continue
        if default.is_scalar:
            defaults[column.name] = default.arg
        elif default.is_callable:
            defaults[column.name] = default.arg(None)
    if defaults:
        rows = [{**defaults, **row} for row in rows]
    columns = list(rows[0])
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), rows)
        return len(rows)
    quoted = ", ".join(conn.dialect.identifier_preparer.quote(column) for column in columns)
    raw = driver_connection(conn)
    with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({quoted}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[column] for column in columns])
    return len(rows)
