"""The panel's menu: the core's entries, then the active plugins' (`panel_menu` hook)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import g, request, url_for

from core.host.platform import current_platform
from core.loyalty.staff import Role
from core.panel.access import EVERYONE, can


@dataclass(frozen=True)
class MenuItem:
    """One entry: where it goes, its (lazy, translated) label, and who sees it."""

    endpoint: str
    label: Any
    roles: tuple[Role, ...] = EVERYONE
    order: int = 100
    values: dict[str, Any] = field(default_factory=dict)


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
