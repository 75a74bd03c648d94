"""Satisfaction surveys (NPS): a one-question survey on the e-mails of points received
and of redemptions, answered from a signed link or the customer app, with bonus points;
the answers in the panel (list, filters, CSV) and the NPS on Inicio.

See `plugins.nps.surveys` for the rules (once per survey, frequency, expiry).
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from core.sdk import PluginInfo, hookimpl
from plugins.nps import app, panel, survey_page
from plugins.nps.hooks import (  # noqa: F401  (hook implementations)
    activity_links,
    app_menu,
    dashboard_widgets,
    mail_links,
    member_erased,
    panel_menu,
)
from plugins.nps.settings import NpsSettings

PLUGIN = PluginInfo(
    name="nps",
    sdk_version="1.6",
    title=_l("Satisfaction surveys (NPS)"),
    description=_l("A one-question survey after each visit, with points, and the NPS on Inicio."),
    plans=("free", "white-label"),
    settings_schema=NpsSettings,
    entry_kinds={"nps": _l("Survey points")},
)


@hookimpl
def blueprints() -> list[Any]:
    return [panel.make_blueprint(), survey_page.make_blueprint(), app.make_blueprint()]
