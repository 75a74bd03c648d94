"""Per-tenant settings, one namespace each, validated by a marshmallow schema.

The core's program settings live in the "program" namespace; a plugin's live
in the namespace of its name. Defaults come from the schema, so a tenant that
never saved anything still reads a complete, valid set.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from tenants.models import TenantSetting


def load_settings(session: Session, namespace: str, schema: ma.Schema) -> dict[str, Any]:
    row = session.scalar(select(TenantSetting).where(TenantSetting.namespace == namespace))
    stored = dict(row.data) if row else {}
    # Unknown keys (from an older version) are dropped, missing ones defaulted.
    return schema.load(stored, unknown=ma.EXCLUDE)


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
    return loaded


def _first_messages(messages: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for field, value in messages.items():
        name = f"{prefix}{field}"
        if isinstance(value, dict):
            flat.update(_first_messages(value, f"{name}."))
        else:
            flat[name] = value[0] if isinstance(value, list) else str(value)
    return flat
