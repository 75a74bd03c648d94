"""The merchant's punch cards, as a list in the "punchcards" settings.

    premia settings set cafe punchcards 'cards=[{"key": "cafe", "name": "Café",
        "product_group": "cafe", "size": 10, "prize": "Una tostada"}]'

`key` identifies a card for good (the members' progress is kept under it);
renaming it starts everyone from zero. A card matches line items by `sku` or
by `product_group` (exactly one). Changing `size` applies from the next punch.
`active: false` stops punching and hides the card; prizes already issued stay
claimable.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_babel import lazy_gettext as _l

MAX_SIZE = 1000


class CardSchema(ma.Schema):
    key = ma.fields.String(
        required=True,
        validate=ma.validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,39}$"),
        metadata={"key_from": "name"},  # made from the name; kept when the card is renamed
    )
    name = ma.fields.String(
        required=True, validate=ma.validate.Length(min=1, max=120), metadata={"label": _l("Name")}
    )
    sku = ma.fields.String(
        allow_none=True,
        load_default=None,
        validate=ma.validate.Length(min=1, max=64),
        metadata={"label": _l("Product code"), "hint": _l("Or a product group, not both.")},
    )
    product_group = ma.fields.String(
        allow_none=True,
        load_default=None,
        validate=ma.validate.Length(min=1, max=64),
        metadata={"label": _l("Product group")},
    )
    size = ma.fields.Integer(
        required=True,
        strict=True,
        validate=ma.validate.Range(min=2, max=MAX_SIZE),
        metadata={"label": _l("Stamps for the prize")},
    )
    prize = ma.fields.String(
        required=True, validate=ma.validate.Length(min=1, max=160), metadata={"label": _l("Prize")}
    )
    active = ma.fields.Boolean(load_default=True, metadata={"label": _l("Active")})

    @ma.validates_schema
    def _one_match(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if (data.get("sku") is None) == (data.get("product_group") is None):
            raise ma.ValidationError(
                str(_l("A card counts either a product code or a product group.")), "sku"
            )


class PunchcardSettings(ma.Schema):
    cards = ma.fields.List(
        ma.fields.Nested(CardSchema),
        load_default=list,
        metadata={"label": _l("Punch cards"), "item": _l("Card")},
    )

    @ma.validates_schema
    def _unique_keys(self, data: dict[str, Any], **_kwargs: Any) -> None:
        keys = [card["key"] for card in data.get("cards", [])]
        if len(keys) != len(set(keys)):
            raise ma.ValidationError(str(_l("Two cards have the same key.")), "cards")
