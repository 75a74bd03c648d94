"""The panel's menu: the core's entries, then the active plugins' (`panel_menu` hook)."""

from __future__ import annotations

from typing import Any

from flask import g, request, url_for

from core.host.contributions import MenuItem
from core.host.platform import current_platform
from core.panel.access import can

CORE: list[MenuItem] = []


def register(item: MenuItem) -> MenuItem:
    """A core screen module adds its entry when it is imported."""
    if all(existing.endpoint != item.endpoint for existing in CORE):
        CORE.append(item)
    return item


def items() -> list[dict[str, Any]]:
    """The entries the current user may open, in order, with their URL and whether
    the current page is theirs."""
    found = list(CORE)
    active = getattr(g, "active_plugins", set())
    for extra in current_platform().plugins.call(active, "panel_menu", tenant=g.tenant):
        found.extend(extra)
    shown = []
    for item in sorted(found, key=lambda i: (i.order, str(i.label))):
        if not can(*item.roles):
            continue
        shown.append(
            {
                "url": url_for(item.endpoint, **item.values),
                "label": str(item.label),
                "current": request.endpoint == item.endpoint,
            }
        )
    return shown
