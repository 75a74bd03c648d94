"""A merchant's brand as it leaves the app (a wallet pass, a printed card): the colours
of its theme and its logo's file."""

from __future__ import annotations

from pathlib import Path

from core.web import themes
from core.web.uploads import upload_folder
from tenants.models import Tenant


def brand_colors(tenant: Tenant) -> dict[str, str]:
    """The merchant's theme colours ("primary", "background", … as CSS colours), its
    parents' and the default theme's filling what it does not set."""
    return themes.colors(tenant.theme or themes.DEFAULT)


def logo_file(tenant: Tenant) -> Path | None:
    """The merchant's uploaded logo (PNG, JPEG, GIF or WebP), None without one."""
    if not tenant.logo:
        return None
    path = upload_folder(tenant.id) / tenant.logo
    return path if path.is_file() else None
