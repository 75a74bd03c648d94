"""Greeting, an example plugin: every new member is greeted, and managers see who."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from core.sdk import MANAGERS, MenuItem, PluginInfo, enqueue, hookimpl
from premia_greeting import greetings, panel

PLUGIN = PluginInfo(
    name="greeting",
    sdk_version="1.0",
    title=_l("Greetings"),
    description=_l("Greets every new member and lists them for the managers."),
    # No seed plan: an operator allows it (`premia plan allow white-label greeting`).
    plans=(),
)


@hookimpl
def member_created(tenant: Any, member: Any) -> None:
    # After commit: the greeting is a job of its own (retried, idempotent).
    enqueue(None, greetings.greet, tenant.id, member.id)


@hookimpl
def blueprints() -> list[Any]:
    return [panel.make_blueprint()]


@hookimpl
def panel_menu(tenant: Any) -> list[MenuItem]:
    return [MenuItem("t.greeting.index", _l("Greetings"), roles=MANAGERS, order=95)]
