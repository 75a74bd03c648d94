"""Hot statements sent through the database driver's cursor, past SQLAlchemy's execution.

An API earn runs a statement or two per request, hundreds of times a second, and the
Python that SQLAlchemy spends around each one is most of what they cost: the ORM
lock of a member by code took 0.67 ms of CPU per request where the same statement
sent through the driver took 0.29 ms (session, transaction and round trip included),
and a text statement's result description is built again from the cursor at every
run. Here a statement is compiled once and sent by the driver's cursor; what the rest
of the code counts on is kept:

- SQLAlchemy's cursor events see it like any other statement (listeners count and
  capture it, and a transaction's BEGIN rides with it: core.host.db);
- its errors are raised as SQLAlchemy raises them;
- an `EntityRead` is compiled from an ORM statement scoped to the session's tenant by
  the same loader criteria as any query of a tenant session (`scoped_statement`),
  and its rows become the session's objects as the ORM would load them.

For PostgreSQL (psycopg); elsewhere callers keep the ORM's way.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.elements import TextClause

from core.host.db import scoped_statement, session_tenant_id


def rows(connection: Any, statement: TextClause, params: dict[str, Any]) -> list[tuple]:
    """The rows of a `text()` statement, as tuples, sent through the driver's cursor
    on SQLAlchemy's `connection`, in its transaction. For a statement whose rows are a
    few values read by position (the values are the driver's, unprocessed)."""
    sql = _text_sql.get(statement)
    if sql is None:
        sql = _text_sql[statement] = str(statement.compile(dialect=connection.dialect))
    return _fetch(connection, sql, params)


_text_sql: weakref.WeakKeyDictionary[TextClause, str] = weakref.WeakKeyDictionary()


def execute(connection: Any, sql: str, params: dict[str, Any]) -> None:
    """A statement that returns no rows, in the driver's own SQL (`%(name)s`), sent
    through the driver's cursor on SQLAlchemy's `connection` (in a driver's pipeline,
    it waits there with the rest)."""
    _fetch(connection, sql, params, rows=False)


def _fetch(connection: Any, sql: str, params: dict[str, Any], rows: bool = True) -> list[tuple]:
    cursor = connection.connection.cursor()
    try:
        # SQLAlchemy's own way to run a statement on a cursor of its connection: cursor
        # events, the dialect's execute hooks, its exceptions (and disconnect handling).
        connection._cursor_execute(cursor, sql, params)
        return cursor.fetchall() if rows else []
    finally:
        cursor.close()


class EntityRead:
    """A SELECT of whole mapped objects, built once, read through the driver.

    `shape` adds FROM, joins, WHERE and locks to `select(<every column of the
    entities>)`; its bind parameters are given to `first`. The statement is scoped to
    the session's tenant as the session would scope it, then compiled once per tenant.
    Each row's objects are the session's, read afresh (the ORM's `populate_existing`):
    an object already in the session gets the row's values, others are added as
    loaded. An outer-joined entity with no row is None. Relationships are not loaded
    (read later as the ORM reads an unloaded one)."""

    def __init__(
        self,
        entities: tuple[type, ...],
        shape: Callable[[Select], Select],
        *,
        person_lookup: bool = False,
    ) -> None:
        self.entities = entities
        self.person_lookup = person_lookup
        self._layout = []  # per entity: its mapper, attribute keys, columns, pk positions
        columns = []
        for entity in entities:
            mapper = entity.__mapper__
            attributes = [prop for prop in mapper.column_attrs if not prop.deferred]
            start = len(columns)
            keys = [prop.key for prop in attributes]
            table_columns = [prop.columns[0] for prop in attributes]
            primary = [start + table_columns.index(column) for column in mapper.primary_key]
            self._layout.append((mapper, start, keys, table_columns, primary))
            columns += [prop.class_attribute for prop in attributes]
        self.statement = shape(select(*columns))
        self._compiled: dict[tuple[int, str], tuple[str, dict[str, Any], list[Any]]] = {}

    def first(self, session: Session, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The objects of the first row (None where there is none)."""
        connection = session.connection()
        sql, defaults, processors = self._compile(session, connection.dialect)
        found = _fetch(connection, sql, {**defaults, **params})
        if not found:
            return None
        row = [
            value if process is None else process(value)
            for value, process in zip(found[0], processors, strict=True)
        ]
        return tuple(self._object(session, part, row) for part in self._layout)

    def _compile(self, session: Session, dialect: Any) -> tuple[str, dict[str, Any], list[Any]]:
        key = (session_tenant_id(session), dialect.name)
        known = self._compiled.get(key)
        if known is None:
            scoped = scoped_statement(session, self.statement, person_lookup=self.person_lookup)
            compiled = scoped.compile(dialect=dialect)
            processors = [
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for _m, _s, _k, table_columns, _p in self._layout
                for column in table_columns
            ]
            if len(self._compiled) >= 1000:  # bounded: many tenants, one process
                self._compiled.clear()
            known = self._compiled[key] = (str(compiled), dict(compiled.params), processors)
        return known

    @staticmethod
    def _object(session: Session, part: tuple, row: list[Any]) -> Any:
        mapper, start, keys, _columns, primary = part
        identity = tuple(row[position] for position in primary)
        if None in identity:
            return None
        values = zip(keys, row[start : start + len(keys)], strict=True)
        existing = session.identity_map.get(mapper.identity_key_from_primary_key(identity))
        if existing is not None:
            session.expire(existing)  # its changes not flushed go, as a fresh load drops them
            for key, value in values:
                set_committed_value(existing, key, value)
            return existing
        loaded = mapper.class_manager.new_instance()
        loaded.__dict__.update(values)  # as loaded: no history
        make_transient_to_detached(loaded)
        session.add(loaded)
        return loaded
