"""A brand's look: what every surface a customer sees is drawn with (the customer app and
its manifest and icons, e-mails, the printable card, plugins' pages and documents).

The theme gives the colours; a plugin answering the `brand_look` hook (the `theme`
plugin: Configuración → Marca) overrides them and adds a font, a stylesheet, an app icon,
the e-mails' sender name and reply-to, a footer and links to the terms and privacy pages.
The core reads the look here only, never a plugin's tables, and remembers it for the
request (or the job's app context), so a page asks once however many templates use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from flask import current_app, g, has_app_context
from markupsafe import Markup
from sqlalchemy.orm import Session

from core.host.db import ALL_TENANTS, tenant_session
from core.host.platform import current_platform
from core.web import themes
from core.web.uploads import upload_folder
from tenants.models import Tenant

# What a template may rely on being there, whatever the theme says.
FALLBACK_COLORS = {
    "primary": "#0f766e",
    "accent": "#f59e0b",
    "text": "#1f2937",
    "background": "#f8fafc",
    "on_primary": "#ffffff",
    "on_accent": "#1f2937",
}


@dataclass(frozen=True)
class BrandLook:
    """How a merchant looks to its customers.

    `colors` has at least primary, accent, text, background and on_primary/on_accent
    (the text colour readable on primary/accent). `stylesheets` are URLs to link after
    the theme's CSS (the brand's compiled stylesheet; empty outside a request). `icon` is
    the stored name of the uploaded square image the app icons and the favicon are drawn
    from (None: from the logo).
    `footer` is safe HTML; `footer_text` the same for plain-text e-mails.
    """

    name: str
    colors: dict[str, str]
    font: str | None = None
    stylesheets: tuple[str, ...] = ()
    icon: str | None = None
    sender_name: str = ""
    reply_to: str | None = None
    footer: Markup | None = None
    footer_text: str | None = None
    terms_url: str | None = None
    privacy_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def font_stack(self) -> str:
        """A CSS font-family: the brand's font first, then the system's."""
        system = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif'
        return f'"{self.font}", {system}' if self.font else system


OVERRIDABLE = {f.name for f in fields(BrandLook)} - {"name"}


def theme_look(tenant: Tenant | None) -> BrandLook:
    """The look from the theme alone (no brand's choices): the platform's or a tenant's."""
    if tenant is None:
        name = current_app.config.get("PREMIA_PLATFORM_NAME", "") if has_app_context() else ""
        return BrandLook(name=name, colors={**FALLBACK_COLORS, **themes.colors(themes.DEFAULT)})
    colors = {**FALLBACK_COLORS, **themes.colors(tenant.theme or themes.DEFAULT)}
    return BrandLook(
        name=tenant.name, colors=colors, sender_name=tenant.name, reply_to=tenant.email
    )


def _ask_plugins(tenant: Tenant) -> dict[str, Any]:
    platform = current_platform()
    # The request's or job's own session when it may read this tenant's rows: a second
    # connection would wait for the first one's write lock on SQLite.
    current = g.get("db")
    if current is not None and current.info.get("tenant_id") in (tenant.id, ALL_TENANTS):
        return _answers(platform, current, tenant)
    with tenant_session(platform.sessions, tenant.id) as session:
        return _answers(platform, session, tenant)


def _answers(platform: Any, session: Session, tenant: Tenant) -> dict[str, Any]:
    known = g.get("active_plugins") if g.get("tenant") is tenant else None
    active = known if known is not None else platform.plugins.active(session, tenant)
    merged: dict[str, Any] = {}
    for answer in platform.plugins.call(active, "brand_look", session=session, tenant=tenant):
        merged.update({k: v for k, v in (answer or {}).items() if k in OVERRIDABLE})
    return merged


def look(tenant: Tenant | None = None) -> BrandLook:
    """The look of `tenant` (default: the request's), the brand's choices over its theme."""
    if tenant is None:
        tenant = g.get("tenant") if has_app_context() else None
    if tenant is None or tenant.id is None or not has_app_context():
        return theme_look(tenant)  # the shared app's e-mails: a sender made up, not stored
    cache: dict[int, BrandLook] = g.setdefault("brand_looks", {})
    if tenant.id not in cache:
        base = theme_look(tenant)
        overrides = _ask_plugins(tenant)
        colors = {**base.colors, **(overrides.pop("colors", None) or {})}
        cache[tenant.id] = replace(base, colors=colors, **overrides)
    return cache[tenant.id]


@contextmanager
def previewing(tenant: Tenant, shown: BrandLook) -> Iterator[None]:
    """Draw with `shown` as `tenant`'s look for a while (the panel's preview before saving)."""
    cache: dict[int, BrandLook] = g.setdefault("brand_looks", {})
    before = cache.get(tenant.id)
    cache[tenant.id] = shown
    try:
        yield
    finally:
        if before is None:
            cache.pop(tenant.id, None)
        else:
            cache[tenant.id] = before


def forget(tenant: Tenant) -> None:
    """Read the look again on next use (after the brand changed it)."""
    if has_app_context():
        g.setdefault("brand_looks", {}).pop(tenant.id, None)


def brand_colors(tenant: Tenant) -> dict[str, str]:
    """The merchant's colours as its customers see them ("primary", "background",
    "on_primary"… as CSS colours): the brand's choices over its theme's (a wallet pass,
    a printed sheet)."""
    return dict(look(tenant).colors)


def logo_file(tenant: Tenant) -> Path | None:
    """The merchant's uploaded logo (PNG, JPEG, GIF or WebP), None without one."""
    if not tenant.logo:
        return None
    path = upload_folder(tenant.id) / tenant.logo
    return path if path.is_file() else None
