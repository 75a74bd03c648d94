"""Per-tenant settings, one namespace each, validated by a marshmallow schema.

The core's program settings live in the "program" namespace; a plugin's live
in the namespace of its name. Defaults come from the schema, so a tenant that
never saved anything still reads a complete, valid set.
"""

from __future__ import annotations

import copy
import functools
import json
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import marshmallow as ma
from sqlalchemy import JSON, ScalarSelect, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from core.host.db import current_transaction
from core.host.errors import InvalidInput
from tenants.models import TenantSetting


def load_settings(
    session: Session, namespace: str, schema: ma.Schema | type[ma.Schema]
) -> dict[str, Any]:
    """A namespace's settings, validated, defaults filled in; each caller gets its own
    copy. A purchase reads the program's and several plugins' settings, some more than
    once: in a tenant session they are read once per transaction, and the same stored
    data is validated by a schema once per process."""
    loaded = _transaction_cache(session)[2] if _tenant_scoped(session) else {}
    kind = schema if isinstance(schema, type) else type(schema)
    if (namespace, kind) not in loaded:
        stored = json.dumps(_stored(session, namespace) or {}, sort_keys=True)
        loaded[namespace, kind] = _validated(kind, stored)
    return _copied(loaded[namespace, kind])


# Values settings hold that no caller can change in place.
_IMMUTABLE = (str, int, float, bool, type(None), Decimal, date, time, datetime)


def _copied(value: Any) -> Any:
    """`copy.deepcopy` for settings' JSON-like values, at a third of its cost (an earn
    copies four namespaces: deepcopy was 4 % of its CPU); anything else deep-copied."""
    kind = type(value)
    if kind is dict:
        return {key: _copied(item) for key, item in value.items()}
    if kind is list:
        return [_copied(item) for item in value]
    if kind in _IMMUTABLE:
        return value
    return copy.deepcopy(value)


@functools.lru_cache(maxsize=4096)
def _validated(kind: type[ma.Schema], stored: str) -> dict[str, Any]:
    """Stored settings (as JSON) validated by a schema: a pure function of the two, so
    kept for every tenant storing the same (most keep the defaults). Never handed out
    as it is: `load_settings` gives each caller a copy."""
    # Unknown keys (from an older version) are dropped, missing ones defaulted.
    return kind().load(json.loads(stored), unknown=ma.EXCLUDE)


def save_settings(
    session: Session, namespace: str, schema: ma.Schema, changes: dict[str, Any]
) -> dict[str, Any]:
    """Merge `changes` into the stored settings; raise InvalidInput on any bad field."""
    row = session.scalar(select(TenantSetting).where(TenantSetting.namespace == namespace))
    merged = {**(row.data if row else {}), **changes}
    try:
        loaded = schema.load(merged)
    except ma.ValidationError as err:
        raise InvalidInput(**_first_messages(err.normalized_messages())) from err
    data = schema.dump(loaded)
    if row is None:
        session.add(TenantSetting(namespace=namespace, data=data))
    else:
        row.data = data
    session.flush()
    session.info.pop(CACHE, None)  # read afresh (a savepoint may yet undo this)
    return loaded


CACHE = "premia_settings"
_EVERY_NAMESPACE = select(TenantSetting.namespace, TenantSetting.data)  # built once


def _stored(session: Session, namespace: str) -> dict[str, Any] | None:
    """A namespace's stored data. In a tenant session every namespace is read in one
    statement, once per transaction: a purchase reads the program's settings and
    several plugins' (cashback, tiers, punch cards…), one round trip instead of one
    each. Within the transaction later reads see that snapshot, and this session's
    own `save_settings`."""
    if not _tenant_scoped(session):  # a platform session
        row = session.scalar(select(TenantSetting).where(TenantSetting.namespace == namespace))
        return row.data if row else None
    return _transaction_cache(session)[1].get(namespace)


class _EveryNamespace(FunctionElement):
    """Every namespace's stored data of a tenant as one JSON object (an aggregate)."""

    type = JSON()
    inherit_cache = True
    name = "every_namespace"


@compiles(_EveryNamespace, "postgresql")
def _every_namespace_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    return f"json_object_agg({compiler.process(element.clauses, **kw)})"


@compiles(_EveryNamespace, "sqlite")
def _every_namespace_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    namespace, data = (compiler.process(c, **kw) for c in element.clauses)
    return f"json_group_object({namespace}, json({data}))"


def every_setting_of(tenant_id: Any) -> ScalarSelect:
    """A column for a statement that finds a tenant (`tenant_id`: its id column): every
    namespace's stored settings, for `known_settings`. The POS API reads them with the
    token, in the statement it sends anyway."""
    return (
        select(_EveryNamespace(TenantSetting.namespace, TenantSetting.data))
        .where(TenantSetting.tenant_id == tenant_id)
        .scalar_subquery()
    )


def known_settings(session: Session, stored: dict[str, Any] | None) -> None:
    """Every namespace's stored settings of the session's tenant as the caller read them
    (`every_setting_of`) in the session's current transaction: `load_settings` answers
    from them for the rest of it, with no statement of its own."""
    current_transaction(session)  # begins one if none has begun
    session.info[CACHE] = (session.get_transaction(), dict(stored or {}), {})


def _tenant_scoped(session: Session) -> bool:
    return isinstance(session.info.get("tenant_id"), int)


def _transaction_cache(session: Session) -> tuple[Any, dict[str, Any], dict[Any, Any]]:
    """(transaction, stored data by namespace, validated settings by namespace and schema)."""
    current_transaction(session)  # begins one if none has begun
    transaction = session.get_transaction()
    cached = session.info.get(CACHE)
    if cached is None or cached[0] is not transaction:
        rows = session.execute(_EVERY_NAMESPACE)
        cached = (transaction, {name: data for name, data in rows}, {})
        session.info[CACHE] = cached
    return cached


def _first_messages(messages: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for field, value in messages.items():
        name = f"{prefix}{field}"
        if isinstance(value, dict):
            flat.update(_first_messages(value, f"{name}."))
        else:
            flat[name] = value[0] if isinstance(value, list) else str(value)
    return flat
