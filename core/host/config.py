"""Configuration from the environment, with embedded defaults that need nothing.

Unset, Premia runs on a SQLite file in the instance folder with jobs run
in-process and e-mail written to the instance's outbox folder, so a newcomer
gets a working platform with one command.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any


def load_config(instance_path: Path, environ: os._Environ | dict = os.environ) -> dict[str, Any]:
    env = environ.get
    return {
        "PREMIA_DATABASE_URL": env("PREMIA_DATABASE_URL")
        or f"sqlite:///{instance_path / 'premia.db'}",
        "PREMIA_REDIS_URL": env("PREMIA_REDIS_URL") or None,
        # A PostgreSQL streaming replica for the pages that only read (core/host/replica.py):
        # how long to wait for it, from what lag a page says how fresh it is, and how long
        # one that failed is left alone (the primary serves meanwhile).
        "PREMIA_DATABASE_REPLICA_URL": env("PREMIA_DATABASE_REPLICA_URL") or None,
        "PREMIA_REPLICA_CONNECT_TIMEOUT": int(env("PREMIA_REPLICA_CONNECT_TIMEOUT") or 2),
        "PREMIA_REPLICA_NOTICE_SECONDS": float(env("PREMIA_REPLICA_NOTICE_SECONDS") or 5),
        "PREMIA_REPLICA_RETRY_SECONDS": float(env("PREMIA_REPLICA_RETRY_SECONDS") or 30),
        "SECRET_KEY": env("PREMIA_SECRET_KEY") or _instance_secret(instance_path),
        "PREMIA_SEAL_KEY": env("PREMIA_SEAL_KEY") or None,  # see core/web/sealing.py
        "PREMIA_SMTP_HOST": env("PREMIA_SMTP_HOST") or None,
        "PREMIA_SMTP_PORT": int(env("PREMIA_SMTP_PORT") or 25),
        "PREMIA_SMTP_USER": env("PREMIA_SMTP_USER") or None,
        "PREMIA_SMTP_PASSWORD": env("PREMIA_SMTP_PASSWORD") or None,
        "PREMIA_SMTP_SECURITY": env("PREMIA_SMTP_SECURITY") or "none",  # none|starttls|ssl
        "PREMIA_MAIL_FROM": env("PREMIA_MAIL_FROM") or "no-reply@localhost",
        "PREMIA_OUTBOX": str(instance_path / "outbox"),
        # Uploaded images, one folder per tenant; shared storage when there are several servers.
        "PREMIA_UPLOAD_FOLDER": env("PREMIA_UPLOAD_FOLDER") or str(instance_path / "uploads"),
        "PREMIA_MAX_IMAGE_BYTES": int(env("PREMIA_MAX_IMAGE_BYTES") or 2 * 1024 * 1024),
        "PREMIA_MAX_IMAGE_PIXELS": int(env("PREMIA_MAX_IMAGE_PIXELS") or 40_000_000),
        # Any request's body, refused unread above it (413): room for an image, or a CSV of
        # 100,000 customers (about 16 MB). Flask's own form limits stay (500 kB of fields).
        "PREMIA_MAX_REQUEST_BYTES": int(env("PREMIA_MAX_REQUEST_BYTES") or 16 * 1024 * 1024),
        # The shared app's name (its manifest, the e-mails it sends itself); a brand's
        # pages and e-mails carry the brand's name only.
        "PREMIA_PLATFORM_NAME": env("PREMIA_PLATFORM_NAME") or "Premia",
        # Hosts of the shared app; any other host is looked up as a tenant's own domain.
        "PREMIA_PLATFORM_HOSTS": [
            h.strip()
            for h in (env("PREMIA_PLATFORM_HOSTS") or "localhost,127.0.0.1").split(",")
            if h.strip()
        ],
        # Where the shared app is reached from outside: every mailed link starts here (a
        # brand's links use its own domain), never from a request's Host header. Unset:
        # http://<first platform host>, or what `premia serve` / `premia demo` listen on.
        "PREMIA_PUBLIC_URL": (env("PREMIA_PUBLIC_URL") or "").rstrip("/") or None,
        # Reverse proxies in front of gunicorn whose X-Forwarded-* headers are trusted.
        "PREMIA_PROXIES": int(env("PREMIA_PROXIES") or 0),
        # A brand's own domain: the host its CNAME must point at (unset: the first platform
        # host), the name servers asked (unset: the machine's; "127.0.0.1:5353,…"), how
        # long a served domain that stops verifying stays served, and who hears of it.
        "PREMIA_CNAME_TARGET": (env("PREMIA_CNAME_TARGET") or "").strip().lower().rstrip(".")
        or None,
        "PREMIA_DNS_NAMESERVERS": [
            n.strip() for n in (env("PREMIA_DNS_NAMESERVERS") or "").split(",") if n.strip()
        ],
        "PREMIA_DNS_TIMEOUT": float(env("PREMIA_DNS_TIMEOUT") or 5),
        "PREMIA_DOMAIN_GRACE_DAYS": int(env("PREMIA_DOMAIN_GRACE_DAYS") or 7),
        "PREMIA_OPERATOR_EMAILS": [
            e.strip() for e in (env("PREMIA_OPERATOR_EMAILS") or "").split(",") if e.strip()
        ],
        "PREMIA_LOGIN_LIMIT": env("PREMIA_LOGIN_LIMIT") or "5 per minute",
        "PREMIA_LOGIN_LIMIT_PER_ADDRESS": env("PREMIA_LOGIN_LIMIT_PER_ADDRESS") or "30 per minute",
        # Password-reset e-mails asked per address, tenant and e-mail.
        "PREMIA_PASSWORD_RESET_LIMIT": env("PREMIA_PASSWORD_RESET_LIMIT") or "5 per hour",
        # The customer app's e-mails (registration, links, resets) asked from one address
        # whatever the e-mail: the forms must never relay mail to thousands of addresses.
        "PREMIA_MAIL_REQUEST_LIMIT_PER_ADDRESS": env("PREMIA_MAIL_REQUEST_LIMIT_PER_ADDRESS")
        or "20 per hour",
        # The monthly expiry's side-by-side transactions on PostgreSQL (about its cores).
        "PREMIA_EXPIRY_PARTS": int(env("PREMIA_EXPIRY_PARTS") or 2),
        # The customer app's social sign-in: a provider is offered when its client id and
        # secret are set. The provider URLs are overridable (tests run local providers).
        "PREMIA_GOOGLE_CLIENT_ID": env("PREMIA_GOOGLE_CLIENT_ID") or None,
        "PREMIA_GOOGLE_CLIENT_SECRET": env("PREMIA_GOOGLE_CLIENT_SECRET") or None,
        "PREMIA_GOOGLE_DISCOVERY_URL": env("PREMIA_GOOGLE_DISCOVERY_URL") or None,
        "PREMIA_FACEBOOK_CLIENT_ID": env("PREMIA_FACEBOOK_CLIENT_ID") or None,
        "PREMIA_FACEBOOK_CLIENT_SECRET": env("PREMIA_FACEBOOK_CLIENT_SECRET") or None,
        "PREMIA_FACEBOOK_DIALOG_URL": env("PREMIA_FACEBOOK_DIALOG_URL") or None,
        "PREMIA_FACEBOOK_GRAPH_URL": env("PREMIA_FACEBOOK_GRAPH_URL") or None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "BABEL_DEFAULT_LOCALE": "es",
        "BABEL_DEFAULT_TIMEZONE": "UTC",
    }


def _instance_secret(instance_path: Path) -> str:
    """A development secret generated once and kept in the instance folder."""
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.write_text(secret)
    path.chmod(0o600)
    return secret
