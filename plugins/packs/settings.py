"""The merchant's pack types, as a list in the "packs" settings.

    premia settings set spa packs 'types=[{"key": "masaje-5",
        "name": "Bono de 5 sesiones de masaje", "uses": 5, "price": "150000",
        "validity_days": 90}]'

A sold pack copies its type's name, uses, price and expiry at the moment of
sale: changing or deactivating (`active: false`) a type later only affects
new sales. `validity_days` empty: the pack never expires.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_babel import lazy_gettext as _l

MAX_USES = 1000


class PackTypeSchema(ma.Schema):
    key = ma.fields.String(
        required=True,
        validate=ma.validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,39}$"),
        metadata={"key_from": "name"},  # made from the name; kept when the type is renamed
    )
    name = ma.fields.String(
        required=True, validate=ma.validate.Length(min=1, max=120), metadata={"label": _l("Name")}
    )
    uses = ma.fields.Integer(
        required=True,
        strict=True,
        validate=ma.validate.Range(min=1, max=MAX_USES),
        metadata={"label": _l("Uses"), "hint": _l("Sessions, drinks… in one pack.")},
    )
    price = ma.fields.Decimal(
        as_string=True,
        allow_none=True,
        load_default=None,
        places=2,
        validate=ma.validate.Range(min=0, max=9999999999),
        metadata={"label": _l("Price"), "hint": _l("Empty: no price shown.")},
    )
    validity_days = ma.fields.Integer(
        strict=True,
        allow_none=True,
        load_default=None,
        validate=ma.validate.Range(min=1, max=3660),
        metadata={"label": _l("Valid for (days)"), "hint": _l("Empty: it never expires.")},
    )
    active = ma.fields.Boolean(load_default=True, metadata={"label": _l("On sale")})


class PackSettings(ma.Schema):
    types = ma.fields.List(
        ma.fields.Nested(PackTypeSchema),
        load_default=list,
        metadata={"label": _l("Pack types"), "item": _l("Pack type")},
    )

    @ma.validates_schema
    def _unique_keys(self, data: dict[str, Any], **_kwargs: Any) -> None:
        keys = [kind["key"] for kind in data.get("types", [])]
        if len(keys) != len(set(keys)):
            raise ma.ValidationError(str(_l("Two pack types have the same key.")), "types")
