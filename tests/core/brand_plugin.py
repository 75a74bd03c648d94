"""A plugin for tests of the core's brand look: answers `brand_look` for merchants whose
plan names it, with the colours and sender below."""

from __future__ import annotations

from core.sdk import PluginInfo, hookimpl

PLUGIN = PluginInfo(name="looks", title="Looks", description="A brand look for tests.")
calls: list[int] = []


@hookimpl
def brand_look(tenant):
    calls.append(tenant.id)
    return {"colors": {"primary": "#123456"}, "sender_name": f"{tenant.name} Club", "font": "Lora"}
