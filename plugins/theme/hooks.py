"""The theme plugin's hook implementations: the brand's look for every surface, and its
page's link on Configuración."""

from __future__ import annotations

from typing import Any

from flask import g
from flask_babel import lazy_gettext as _l

from core.sdk import (
    MANAGERS,
    MenuItem,
    Tenant,
    current_platform,
    db,
    hookimpl,
    tenant_session,
)
from plugins.theme.brands import Choices, get_brand, overrides


def _saved(tenant: Tenant) -> Any:
    if g.get("tenant") is not None and db().info.get("tenant_id") == tenant.id:
        return get_brand(db())  # the request's or job's own session: no second connection
    with tenant_session(current_platform().sessions, tenant.id) as session:
        return get_brand(session)


@hookimpl
def brand_look(tenant: Tenant) -> dict[str, Any] | None:
    brand = _saved(tenant)
    if brand is None:
        return None
    return overrides(tenant, Choices.of(brand), brand.stylesheet_hash, brand.icon)


@hookimpl
def settings_links(tenant: Tenant) -> list[MenuItem]:
    return [
        MenuItem("t.theme_panel.edit", _l("Brand: colours, font, icon, e-mails"), roles=MANAGERS)
    ]
