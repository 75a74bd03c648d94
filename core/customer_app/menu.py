"""The customer app's menu: on a merchant's pages the core's entries and the plugins';
on the shared app's own pages, the person's cards and what spans every merchant."""

from __future__ import annotations

from typing import Any

from flask import g, request, url_for
from flask_babel import lazy_gettext as _l

from core.host.contributions import MenuItem
from core.host.platform import current_platform

CORE: list[MenuItem] = [
    MenuItem("t.app_card.home", _l("My card"), order=10),
]


# The shared app's own pages (no merchant): endpoints of the SHARED and BOTH faces.
SHARED: list[MenuItem] = [
    MenuItem("app_home.home", _l("My cards"), order=10),
    MenuItem("app_merchants.index", _l("Find merchants"), order=20),
    MenuItem("app_code.show", _l("My code"), order=30),
    MenuItem("app_profile.edit", _l("My profile"), order=90),
    MenuItem("app_social.methods", _l("Sign-in methods"), order=95),
]


def register(item: MenuItem) -> MenuItem:
    """A core app module adds its entry when it is imported."""
    if all(existing.endpoint != item.endpoint for existing in CORE):
        CORE.append(item)
    return item


def _shown(found: list[MenuItem]) -> list[dict[str, Any]]:
    return [
        {
            "label": item.label,
            "url": url_for(item.endpoint, **item.values),
            "current": request.endpoint == item.endpoint,
        }
        for item in sorted(found, key=lambda i: (i.order, str(i.label)))
    ]


def items() -> list[dict[str, Any]]:
    """The entries of the face being served, in order, with their URL and whether the
    current page is theirs."""
    if g.get("tenant") is None:
        return _shown(SHARED)
    found = list(CORE)
    active = getattr(g, "active_plugins", set())
    for extra in current_platform().plugins.call(active, "app_menu", tenant=g.tenant):
        found.extend(extra or [])
    return _shown(found)
