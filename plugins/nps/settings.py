"""The merchant's survey settings ("nps" namespace): when a survey is sent and what it
pays, how often a member may be asked, how long a link lasts, complaint alerts."""

from __future__ import annotations

import marshmallow as ma
from flask_babel import lazy_gettext as _l

from core.sdk import MAX_POINTS_PER_OPERATION


def _points(label: str) -> ma.fields.Integer:
    return ma.fields.Integer(
        strict=True,
        validate=ma.validate.Range(min=0, max=MAX_POINTS_PER_OPERATION),
        load_default=0,
        metadata={"label": label},
    )


class NpsSettings(ma.Schema):
    on_earn = ma.fields.Boolean(
        load_default=True,
        metadata={"label": _l("Send a survey when the customer receives points")},
    )
    earn_bonus = _points(_l("Points for answering the survey sent with points received"))
    on_redemption = ma.fields.Boolean(
        load_default=False,
        metadata={"label": _l("Send a survey when the customer redeems a reward")},
    )
    redemption_bonus = _points(_l("Points for answering the survey sent with a redemption"))
    every_days = ma.fields.Integer(
        strict=True,
        validate=ma.validate.Range(min=0, max=365),
        load_default=30,
        metadata={"label": _l("Ask the same customer at most once every (days)")},
    )
    link_days = ma.fields.Integer(
        strict=True,
        validate=ma.validate.Range(min=1, max=365),
        load_default=14,
        metadata={"label": _l("Days a survey link stays valid")},
    )
    mail_detractors = ma.fields.Boolean(
        load_default=False,
        metadata={"label": _l("E-mail me at once the answers of detractors (0 to 6)")},
    )
