"""Who may call: the bearer token, its tenant, its scopes, and its rate limit.

Every request to the API resolves its tenant from the token in one statement,
scopes the request's session to that tenant, and only then runs the view, so
no view can reach another tenant's rows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app, g, request
from flask_babel import lazy_gettext as _l
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from core.sdk import Actor, PremiaError, check_open, current_platform, scope
from plugins.api import token_cache
from plugins.api.errors import error_response


def init_limits(app: Any) -> None:
    storage = storage_from_string(app.config.get("PREMIA_REDIS_URL") or "memory://")
    app.extensions["premia_api_limits"] = (
        MovingWindowRateLimiter(storage),
        parse(app.config["PREMIA_API_RATE_LIMIT"]),
    )
    app.extensions["premia_api_tokens"] = token_cache.TokenCache()


def authenticate(idempotency_key: str | None = None) -> Any:
    """Before every API request: a response for a caller that may not go on, else None.

    With the request's `idempotency_key`, the answer stored for it (if any) is read in
    the same statement as the token: `g.api_stored_answer` (`tokens.UNREAD` where the
    token came from this process's `token_cache`)."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return error_response(401, headers={"WWW-Authenticate": 'Bearer realm="premia"'})
    session = current_platform().sessions()
    g.db = session  # closed at teardown like any request's session
    secret = secret.strip()
    credential, allowed = token_cache.authenticate(session, secret, idempotency_key)
    if credential is None:
        return error_response(
            401,
            message=_l("This API token is unknown or revoked."),
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    scope(session, credential.tenant.id)
    g.tenant = credential.tenant
    check_open(credential.tenant)  # a suspended merchant: 403 merchant_suspended, nothing read
    g.api_token = credential.token
    g.api_stored_answer = credential.stored_answer
    if not credential.api_active:
        return error_response(
            403,
            "api_not_enabled",
            _l("The API is not enabled for this merchant's plan or settings."),
        )
    limiter, limit = current_app.extensions["premia_api_limits"]
    if allowed is None:  # not hit with the token's version (token_cache)
        allowed = limiter.hit(limit, "api", str(credential.token.id))
    if not allowed:
        reset = limiter.get_window_stats(limit, "api", str(credential.token.id)).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        return error_response(429, headers={"Retry-After": str(wait)})
    token_cache.touch(session, credential, secret)
    return None


class MissingScope(PremiaError):
    status = 403
    reason = "missing_scope"


class FeatureOff(PremiaError):
    """A till's feature (a plugin's endpoint) the merchant has switched off."""

    status = 403
    reason = "feature_not_enabled"


def requires(scope_name: str) -> Callable:
    """The token must carry this scope (403 otherwise)."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if scope_name not in g.api_token.scope_set:
                raise MissingScope(_l("This token lacks the scope %(scope)s.", scope=scope_name))
            return view(*args, **kwargs)

        checked._premia_scope = scope_name  # type: ignore[attr-defined]
        return checked

    return decorate


def actor() -> Actor:
    return Actor("token", g.api_token.id)
