"""Prepaid packs: "Bono de 5 sesiones de masaje", "Bono de 3 copas".

Pack types are defined in the merchant's settings (see `settings`); staff sell
a pack to a member and record each use, with who and where, until it is used
up or expires. See `plugins.packs.packs`; the panel's page is `panel.py`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask_babel import format_date
from flask_babel import lazy_gettext as _l

from core.sdk import MenuItem, PluginInfo, SummaryLine, hookimpl
from plugins.packs import (
    api,
    models,  # noqa: F401  (its tables, for the migrations)
    packs,
    panel,
)
from plugins.packs.settings import PackSettings

PLUGIN = PluginInfo(
    name="packs",
    sdk_version="1.6",
    title=_l("Prepaid packs"),
    description=_l("Packs of sessions or drinks paid in advance and used one at a time."),
    plans=("white-label",),
    settings_schema=PackSettings,
)


@hookimpl
def blueprints() -> list[Any]:
    return [panel.make_blueprint()]


@hookimpl
def member_actions(member: Any) -> list[MenuItem]:
    return [MenuItem("t.packs.member_packs", _l("Packs"), values={"code": member.code})]


@hookimpl
def member_summary(session: Any, member: Any) -> list[SummaryLine]:
    """Each usable pack and its uses left beside the balance: "Bono de 3 copas: 2 de 3"."""
    return [
        SummaryLine(pack.name, _l("%(left)s of %(uses)s", left=pack.uses_left, uses=pack.uses))
        for pack in packs.packs_of(session, member, usable=True)
    ]


@hookimpl
def member_facts(session: Any, member: Any) -> dict[str, Any]:
    """For the POS API: the member's usable packs, newest first."""
    return {
        "packs": [
            {
                "id": pack.id,
                "name": pack.name,
                "uses": pack.uses,
                "uses_left": pack.uses_left,
                "expires_at": pack.expires_at,
            }
            for pack in packs.packs_of(session, member, usable=True)
        ]
    }


@hookimpl
def card_lines(session: Any, member: Any) -> list[SummaryLine]:
    """On the member's card in the app: each usable pack, its uses left and its last
    day in the merchant's time zone ("Bono de 5 sesiones de masaje: 3 de 5
    disponibles, hasta el 30 de agosto de 2026")."""
    lines = []
    for pack in packs.packs_of(session, member, usable=True):
        left = {"left": pack.uses_left, "uses": pack.uses}
        if pack.expires_at is None:
            value = _l("%(left)s of %(uses)s left", **left)
        else:
            # expires_at is the local midnight after the last valid day
            last_day = format_date(pack.expires_at - timedelta(seconds=1), "long")
            value = _l("%(left)s of %(uses)s left, until %(date)s", date=last_day, **left)
        lines.append(SummaryLine(pack.name, value))
    return lines


@hookimpl(trylast=True)  # after the POS API's, whose door our endpoint goes through
def startup(app: Any) -> None:
    door = app.extensions.get("premia_api")
    if door is not None:  # the POS API plugin is installed: our endpoint beside its own
        door.add_plugin_endpoints(
            api.make_blueprint(door),
            plugin="packs",
            scope="points:write",
            tag="purchases",
            when_off=api.WHEN_OFF,
        )
