"""Birthday points: a gift of points on each member's birthday, in the merchant's time zone.

See `plugins.birthday.grants` for the rules (once per year, 29 February, catch-up).
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from core.sdk import PeriodicJob, PluginInfo, hookimpl
from plugins.birthday import grants
from plugins.birthday.settings import BirthdaySettings

PLUGIN = PluginInfo(
    name="birthday",
    sdk_version="1.6",
    title=_l("Birthday points"),
    description=_l("Points for each customer on their birthday, once a year."),
    plans=("white-label",),
    settings_schema=BirthdaySettings,
    entry_kinds={"birthday": _l("Birthday points")},
)


@hookimpl
def periodic_jobs() -> list[PeriodicJob]:
    # Hourly: each tenant's local midnight falls on a different UTC hour.
    return [PeriodicJob("birthday.tick", grants.tick, every=3600)]
