"""Cashback: programs that give a percentage of a purchase as points (the highest
applicable one), and a cap on paying a bill with points; see services.py."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from core.plugins import PluginInfo
from plugins.cashback.hooks import calculate_points  # noqa: F401  (hook implementation)
from plugins.cashback.settings import CashbackSettings

PLUGIN = PluginInfo(
    name="cashback",
    title=_l("Cashback"),
    description=_l("A percentage of each purchase back as points, and a cap on paying "
                   "with points."),
    plans=("white-label",),
    settings_schema=CashbackSettings,
)
