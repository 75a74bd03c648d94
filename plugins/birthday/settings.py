"""The merchant's birthday gift: how many points, and whether it is given at all."""

from __future__ import annotations

import marshmallow as ma
from flask_babel import lazy_gettext as _l

from core.sdk import MAX_POINTS_PER_OPERATION


class BirthdaySettings(ma.Schema):
    enabled = ma.fields.Boolean(load_default=True, metadata={"label": _l("Give birthday points")})
    points = ma.fields.Integer(
        strict=True,
        validate=ma.validate.Range(min=1, max=MAX_POINTS_PER_OPERATION),
        load_default=100,
        metadata={"label": _l("Points on the birthday")},
    )
