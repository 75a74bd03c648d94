"""The customer app's menu on a merchant's pages: the core's entries and the plugins'."""

from __future__ import annotations

from typing import Any

from flask import g, request, url_for
from flask_babel import lazy_gettext as _l

from core.host.contributions import MenuItem
from core.host.platform import current_platform

CORE: list[MenuItem] = [
    MenuItem("t.app_card.home", _l("My card"), order=10),
]


def register(item: MenuItem) -> MenuItem:
    """A core app module adds its entry when it is imported."""
    if all(existing.endpoint != item.endpoint for existing in CORE):
        CORE.append(item)
    return item


def items() -> list[dict[str, Any]]:
    """The entries of the merchant being served, in order, with their URL and whether
    the current page is theirs (none on the shared app's own pages)."""
    if g.get("tenant") is None:
        return []
    found = list(CORE)
    active = getattr(g, "active_plugins", set())
    for extra in current_platform().plugins.call(active, "app_menu", tenant=g.tenant):
        found.extend(extra or [])
    shown = []
    for item in sorted(found, key=lambda i: (i.order, str(i.label))):
        shown.append(
            {
                "label": item.label,
                "url": url_for(item.endpoint, **item.values),
                "current": request.endpoint == item.endpoint,
            }
        )
    return shown
