"""Prepaid packs: "Bono de 5 sesiones de masaje", "Bono de 3 copas".

Pack types are defined in the merchant's settings (see `settings`); staff sell
a pack to a member and record each use, with who and where, until it is used
up or expires. See `plugins.packs.packs`.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from core.plugins import PluginInfo
from plugins.packs import models  # noqa: F401  (its tables, for the migrations)
from plugins.packs.settings import PackSettings

PLUGIN = PluginInfo(
    name="packs",
    title=_l("Prepaid packs"),
    description=_l("Packs of sessions or drinks paid in advance and used one at a time."),
    plans=("white-label",),
    settings_schema=PackSettings,
)
