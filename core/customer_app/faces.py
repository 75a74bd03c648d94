"""The customer app's two faces: the shared app and a merchant's own app.

The shared app lives at `/app/` on the platform's hosts: a person sees every
merchant where they are a member. Each merchant's pages (the card, history,
rewards, and what plugins add) live at `/t/<slug>/app/` there, and at `/app/` on a
brand's own domain, where they are that merchant's app alone: its theme, name and
logo, no way to the shared app, nothing saying "Premia".
"""

from __future__ import annotations

from typing import Any

from flask import g, url_for

from tenants.models import Tenant


def is_brand(tenant: Tenant | None = None) -> bool:
    """Whether the merchant's app is a brand's own (white-label: its own domain)."""
    tenant = tenant if tenant is not None else g.get("tenant")
    return bool(tenant is not None and tenant.domain)


def app_url(endpoint: str, **values: Any) -> str:
    """The URL of an app page in the face being served: the merchant's own pages when a
    tenant is resolved (`t.` + endpoint), else the shared app's."""
    prefix = "t." if g.get("tenant") is not None else ""
    return url_for(prefix + endpoint, **values)
