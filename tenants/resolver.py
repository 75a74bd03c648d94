"""Which tenant a request is for: its own domain, or `/t/<slug>/` on the shared app.

Every tenant page hangs under the `t` blueprint; resolving the tenant scopes
the request's session to it, and a plugin's pages answer 404 unless the plugin
is active for that tenant.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import Blueprint, abort, g, has_request_context, render_template, request
from sqlalchemy import select
from werkzeug.exceptions import BadRequest, NotFound
from werkzeug.wrappers import Response

from core.host.db import scope
from core.host.errors import MerchantSuspended
from core.host.platform import current_platform
from core.web.request import db, favicon, wants_json
from core.web.security import BARE_HEADERS
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


def current_tenant() -> Tenant:
    """The tenant of the request being served (a panel page, the customer app, the API)."""
    return g.tenant


def use_tenant(tenant: Tenant) -> None:
    g.tenant = tenant
    scope(db(), tenant.id)
    check_open(tenant)
    g.active_plugins = current_platform().plugins.active(db(), tenant)


def check_open(tenant: Tenant) -> None:
    """Refuse the request of a merchant the operators suspended, before any view runs:
    403 with a page saying so in the merchant's look and language, or the JSON error
    `merchant_suspended` (the API, or a client asking for JSON). Every tenant page goes
    through `use_tenant`; a door that finds its tenant otherwise (the API's token) calls
    this as soon as it knows it."""
    if tenant.suspended_at is None:
        return
    if wants_json():
        raise MerchantSuspended()
    page = render_template("suspended.html", message=MerchantSuspended.message)
    abort(Response(page, status=403, mimetype="text/html"))


# The WSGI environ key naming the brand whose own domain serves the request.
DOMAIN_SLUG = "premia.domain_slug"


def brand_url(url: str) -> str:
    """`url` as the browser sees it on a brand's own domain: without the `/t/<slug>`
    prefix that the domain serves at its root (a brand's app lives at `/app/`, and a
    service worker's scope follows the visible path). Unchanged on platform hosts."""
    slug = request.environ.get(DOMAIN_SLUG) if has_request_context() else None
    if not slug:
        return url
    parts = urlsplit(url)
    own = f"/t/{slug}"
    if parts.path != own and not parts.path.startswith(own + "/"):
        return url
    return urlunsplit(parts._replace(path=parts.path[len(own) :] or "/"))


class DomainMiddleware:
    """Serves a tenant's own domain as if it were `/t/<slug>/` on the shared app, and
    refuses (400) a host that is neither a platform host nor a brand's domain: nothing
    then answers for a forged Host or X-Forwarded-Host (mailed links never use it
    either, see core.web.links)."""

    def __init__(self, wsgi_app: Any, app: Any) -> None:
        self.wsgi_app = wsgi_app
        self.app = app

    # Served whatever the host: a load balancer probes by address or its own name, the
    # reverse proxy asks whether a domain may get a certificate; the answers hold no link.
    ANY_HOST = ("/healthz", "/.well-known/premia/domain-check")
    # Served as the platform's on a brand's domain too (the API knows its tenant from the
    # token): never looked up.
    SHARED_PATHS = ("/static/", "/themes/", "/api/")

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        host = _hostname(environ.get("HTTP_HOST") or "")
        path = environ.get("PATH_INFO", "") or "/"
        if path in self.ANY_HOST or host in self.app.config["PREMIA_PLATFORM_HOSTS"]:
            return self.wsgi_app(environ, start_response)
        slug = self._slug_for(host) if host else None
        if slug is None:
            return _bare(_unknown_host(environ, path))(environ, start_response)
        own = f"/t/{slug}"
        if path.startswith("/t/") and not (path == own or path.startswith(own + "/")):
            # A brand's domain serves that brand alone, never another tenant's pages.
            return _bare(NotFound().get_response(environ))(environ, start_response)
        if not path.startswith((own, *self.SHARED_PATHS)):
            environ["PATH_INFO"] = own + path
        environ[DOMAIN_SLUG] = slug
        return self.wsgi_app(environ, start_response)

    def _slug_for(self, host: str) -> str | None:
        with self.app.app_context(), current_platform().sessions() as session:
            return session.scalar(select(Tenant.slug).where(Tenant.domain == host))


def _bare(response: Any) -> Any:
    response.headers.update(BARE_HEADERS)
    return response


def _unknown_host(environ: dict[str, Any], path: str) -> Any:
    # Before Flask (no app, no locale): the API's error shape there, a plain page elsewhere.
    if path.startswith("/api/"):
        return Response(
            json.dumps({"status": 400, "reason": "unknown_host", "message": "Unknown host."}),
            status=400,
            mimetype="application/json",
        )
    return BadRequest("Unknown host.").get_response(environ)


def _hostname(host: str) -> str:
    """The host name of a Host header, without port, lower-case ("[::1]:80" -> "::1")."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.partition(":")[0]
