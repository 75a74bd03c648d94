"""Cashback: programs that give a percentage of a purchase as points (the highest
applicable one), and a cap on paying with points; see services.py. Staff pay a bill
with points from the member's page in the panel (panel.py)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from core.sdk import MenuItem, PluginInfo, hookimpl
from plugins.cashback import api, panel
from plugins.cashback.hooks import (  # noqa: F401  (hook implementations)
    calculate_points,
    points_payable,
)
from plugins.cashback.settings import CashbackSettings

PLUGIN = PluginInfo(
    name="cashback",
    sdk_version="1.6",
    title=_l("Cashback"),
    description=_l(
        "A percentage of each purchase back as points, and a cap on paying with points."
    ),
    plans=("white-label",),
    settings_schema=CashbackSettings,
    entry_kinds={"cashback": _l("Cashback"), "pay_with_points": _l("Paid with points")},
)


@hookimpl
def blueprints() -> list[Any]:
    return [panel.make_blueprint()]


@hookimpl
def member_actions(member: Any) -> list[MenuItem]:
    return [MenuItem("t.cashback.pay", _l("Pay with points"), values={"code": member.code})]


@hookimpl(trylast=True)  # after the POS API's, whose door our endpoint goes through
def startup(app: Any) -> None:
    door = app.extensions.get("premia_api")
    if door is not None:  # the POS API plugin is installed: our endpoint beside its own
        door.add_plugin_endpoints(
            api.make_blueprint(door),
            plugin="cashback",
            scope="points:write",
            tag="purchases",
            when_off=api.WHEN_OFF,
        )
