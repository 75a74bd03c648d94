"""The merchant's choice of which e-mails are sent."""

from __future__ import annotations

import marshmallow as ma
from flask_babel import lazy_gettext as _l


class NotificationSettings(ma.Schema):
    on_member_created = ma.fields.Boolean(
        load_default=True, metadata={"label": _l("Welcome e-mail to new customers")}
    )
    on_points = ma.fields.Boolean(
        load_default=True, metadata={"label": _l("E-mail on points given or redeemed")}
    )
    on_redemption = ma.fields.Boolean(
        load_default=True, metadata={"label": _l("E-mail on redemptions")}
    )
    on_expiring = ma.fields.Boolean(
        load_default=True, metadata={"label": _l("E-mail before points expire")}
    )
    on_tier_changed = ma.fields.Boolean(
        load_default=True, metadata={"label": _l("E-mail when a customer's tier changes")}
    )
    merchant_on_request = ma.fields.Boolean(
        load_default=True, metadata={"label": _l("E-mail me when a customer requests a reward")}
    )
