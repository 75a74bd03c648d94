"""The theme plugin's hook implementations: the brand's look for every surface, and its
page's link on Configuración."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from core.sdk import (
    MANAGERS,
    MenuItem,
    Tenant,
    hookimpl,
)
from plugins.theme.brands import Choices, get_brand, overrides


@hookimpl
def brand_look(session: Session, tenant: Tenant) -> dict[str, Any] | None:
    brand = get_brand(session, tenant.id)
    if brand is None:
        return None
    return overrides(tenant, Choices.of(brand), brand.stylesheet_hash, brand.icon)


@hookimpl
def settings_links(tenant: Tenant) -> list[MenuItem]:
    return [
        MenuItem("t.theme_panel.edit", _l("Brand: colours, font, icon, e-mails"), roles=MANAGERS)
    ]
