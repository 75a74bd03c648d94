"""Tiers: levels such as Plata (×1) and Oro (×1.2) with a points multiplier,
reached by spend within a month or a rolling window; see services.py."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from core.sdk import PluginInfo
from plugins.tiers.hooks import (  # noqa: F401  (hook implementations)
    calculate_points,
    card_lines,
    member_facts,
    member_segments,
    member_summary,
    notification_topics,
    periodic_jobs,
    purchase_partly_returned,
    purchase_recorded,
    purchase_returned,
)
from plugins.tiers.settings import TierSettings

PLUGIN = PluginInfo(
    name="tiers",
    sdk_version="1.6",
    title=_l("Tiers"),
    description=_l("Levels with a points multiplier that members reach by spending."),
    plans=("white-label",),
    settings_schema=TierSettings,
    entry_kinds={"tier_bonus": _l("Tier bonus")},
)
