"""The merchant's choice of which e-mails are sent."""

from __future__ import annotations

import marshmallow as ma


class NotificationSettings(ma.Schema):
    on_member_created = ma.fields.Boolean(load_default=True)
    on_points = ma.fields.Boolean(load_default=True)
    on_redemption = ma.fields.Boolean(load_default=True)
    on_expiring = ma.fields.Boolean(load_default=True)
    merchant_on_request = ma.fields.Boolean(load_default=True)
