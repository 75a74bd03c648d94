"""Links that leave the app (in e-mails): built from the configuration, never the request.

A request's Host (or X-Forwarded-Host) is whatever the client sends; a reset link
built from it would carry a valid token to the attacker's host. So a mailed link
starts at the brand's own domain (https; served only once its DNS proved it the
brand's, see tenants.domains) or at `PREMIA_PUBLIC_URL`, the shared app's address, and
works the same from a request, a job or the CLI.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app

from tenants.models import Tenant


def public_base_url() -> str:
    """The shared app's address as seen from outside, without a trailing slash."""
    config = current_app.config
    return config.get("PREMIA_PUBLIC_URL") or f"http://{config['PREMIA_PLATFORM_HOSTS'][0]}"


def external_url(endpoint: str, tenant: Tenant | None = None, **values: Any) -> str:
    """The absolute URL of `endpoint` for a mail: on `tenant`'s own domain if it has one,
    else on the shared app (tenant pages under `/t/<slug>/`)."""
    if tenant is not None:
        values.setdefault("tenant_slug", tenant.slug)
    if tenant is not None and tenant.domain:
        scheme, netloc, prefix = "https", tenant.domain, ""
    else:
        base = urlsplit(public_base_url())
        scheme, netloc, prefix = base.scheme, base.netloc, base.path.rstrip("/")
    # A map bound to the configured address, not the request's: no Host header involved.
    adapter = current_app.url_map.bind(netloc, url_scheme=scheme)
    path = adapter.build(endpoint, values)
    if tenant is not None and tenant.domain:  # the domain serves `/t/<slug>/` at its root
        own = f"/t/{tenant.slug}"
        if path == own or path.startswith(own + "/"):
            path = path[len(own) :] or "/"
    return f"{scheme}://{netloc}{prefix}{path}"
