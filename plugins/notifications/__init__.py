"""E-mail notifications: to customers on joining, points received, redemptions and
expiring points; to the merchant when a customer requests a reward."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from core.sdk import PluginInfo
from plugins.notifications.hooks import (  # noqa: F401  (hook implementations)
    delivered_topics,
    entries_recorded,
    entry_recorded,
    member_created,
    member_erased,
    members_enrolled,
    notify,
    redemption_changed,
)
from plugins.notifications.settings import NotificationSettings

PLUGIN = PluginInfo(
    name="notifications",
    sdk_version="1.6",
    title=_l("E-mail notifications"),
    description=_l("E-mails to customers and to the merchant when something happens."),
    plans=("free", "white-label"),
    settings_schema=NotificationSettings,
)
