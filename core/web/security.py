"""Security headers on every answer; Secure cookies and HSTS when served over HTTPS.

The Content-Security-Policy allows scripts and styles from the app itself and,
inline, only a `<script>` or `<style>` carrying this answer's nonce (templates
write `nonce="{{ csp_nonce() }}"`: the theme's colours, Swagger UI's start-up).
No page may be framed. Whether a request is HTTPS is the request's own scheme,
or `X-Forwarded-Proto` from a trusted proxy (ProxyFix with `PREMIA_PROXIES`).
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, current_app, g, request
from flask.sessions import SecureCookieSessionInterface

# Swagger UI draws its icons from data: URIs; nothing else comes from elsewhere, but
# for the origins a plugin's scripts must reach (`PREMIA_CSP_CONNECT_SRC`, a list the
# push plugin extends at start-up with Firebase's registration services).
CSP = (
    "default-src 'self'; script-src 'self' 'nonce-{nonce}'; connect-src 'self'{connect}; "
    "style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000"  # a year; brand domains are separate sites, so no subdomains


# For the few answers made before Flask (an unknown host): nothing to run, nothing to frame.
BARE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def csp_nonce() -> str:
    """This answer's nonce for an inline `<script>` or `<style>` (one per request)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    if "Content-Security-Policy" not in headers:
        extra = current_app.config.get("PREMIA_CSP_CONNECT_SRC") or ()
        connect = "".join(f" {origin}" for origin in extra)
        headers["Content-Security-Policy"] = CSP.format(nonce=csp_nonce(), connect=connect)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    # Reset and confirmation links carry tokens in the path: never sent to another site.
    headers.setdefault("Referrer-Policy", "same-origin")
    if request.is_secure:  # never on plain HTTP: it would lock out an HTTP-only host
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, marked Secure whenever the request is HTTPS
    (SESSION_COOKIE_SECURE being fixed for the app, not per request)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure or super().get_cookie_secure(app)


def init_security(app: Flask) -> None:
    app.session_interface = SessionInterface()
    app.after_request(add_security_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
