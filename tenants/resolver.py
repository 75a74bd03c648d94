"""Which tenant a request is for: its own domain, or `/t/<slug>/` on the shared app.

Every tenant page hangs under the `t` blueprint; resolving the tenant scopes
the request's session to it, and a plugin's pages answer 404 unless the plugin
is active for that tenant.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g, request
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from core.db import scope
from core.platform import current_platform
from core.web import db, favicon
from tenants.models import Tenant


def make_site() -> Blueprint:
    """The parent of every tenant page (a new one per app: blueprints nest per app)."""
    site = Blueprint("t", __name__, url_prefix="/t/<tenant_slug>")

    @site.url_value_preprocessor
    def resolve(_endpoint: str | None, values: dict[str, Any] | None) -> None:
        slug = (values or {}).pop("tenant_slug", None)
        tenant = db().scalar(select(Tenant).where(Tenant.slug == slug))
        if tenant is None:
            abort(404)
        use_tenant(tenant)
        plugins = current_platform().plugins
        for name in request.blueprints:
            owner = plugins.blueprint_owner.get(name.split(".")[-1])
            if owner and owner not in g.active_plugins:
                abort(404)

    @site.before_app_request
    def resolve_unrouted() -> None:
        # A path under /t/<slug>/ that matches no page (a 404, a 405) is still that
        # tenant's: its error page is drawn in its theme and language.
        if request.routing_exception is None or g.get("tenant") is not None:
            return
        slug = request.path.split("/")[2] if request.path.startswith("/t/") else None
        tenant = db().scalar(select(Tenant).where(Tenant.slug == slug)) if slug else None
        if tenant is not None:
            use_tenant(tenant)

    # A brand's own domain serves its /favicon.ico too (in its theme).
    site.add_url_rule("/favicon.ico", view_func=favicon)

    @site.url_defaults
    def add_slug(_endpoint: str, values: dict[str, Any]) -> None:
        if "tenant_slug" not in values and g.get("tenant") is not None:
            values["tenant_slug"] = g.tenant.slug

    return site


def use_tenant(tenant: Tenant) -> None:
    g.tenant = tenant
    scope(db(), tenant.id)
    g.active_plugins = current_platform().plugins.active(db(), tenant)


class DomainMiddleware:
    """Serves a tenant's own domain as if it were `/t/<slug>/` on the shared app."""

    def __init__(self, wsgi_app: Any, app: Any) -> None:
        self.wsgi_app = wsgi_app
        self.app = app

    # Served whatever the host: the API knows its tenant from the token.
    SHARED_PATHS = ("/healthz", "/static/", "/themes/", "/api/")

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        host = (environ.get("HTTP_HOST") or "").split(":")[0].lower()
        path = environ.get("PATH_INFO", "") or "/"
        if host and host not in self.app.config["PREMIA_PLATFORM_HOSTS"] and not (
            path == "/healthz" or path.startswith(self.SHARED_PATHS[1:])
        ):
            slug = self._slug_for(host)
            if slug:
                own = f"/t/{slug}"
                if path.startswith("/t/") and not (path == own or path.startswith(own + "/")):
                    # A brand's domain serves that brand alone, never another tenant's pages.
                    return NotFound()(environ, start_response)
                if not path.startswith(own):
                    environ["PATH_INFO"] = own + path
        return self.wsgi_app(environ, start_response)

    def _slug_for(self, host: str) -> str | None:
        with self.app.app_context(), current_platform().sessions() as session:
            return session.scalar(select(Tenant.slug).where(Tenant.domain == host))
