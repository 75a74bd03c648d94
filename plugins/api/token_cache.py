"""API tokens this process keeps, with their tenant, plan, plugins and settings.

The token statement was the heaviest item of an earn's Python CPU (21%) and of its
statements. A token seen before is served from here while its tenant's version
(`version_keys`) is the one it was read under. The version is read in the Redis
pipeline that sends the rate-limit hit, so a revoked token, a plan or a plugin
switched, or a setting saved counts on the next request, in every process, at no
extra round trip. Without Redis (the embedded default) nothing is kept: every
request reads its token as before.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask import current_app
from limits.storage import RedisStorage
from redis.exceptions import NoScriptError
from sqlalchemy.orm import Session, make_transient_to_detached

from core.sdk import (
    Plan,
    Tenant,
    current_platform,
    known_settings,
    start_versions,
    version_keys,
    version_of,
)
from plugins.api import tokens
from plugins.api.models import ApiToken

# A version's publication lost (Redis briefly away at a commit) leaves an entry stale
# at most this long.
MAX_AGE = 300.0
MAX_ENTRIES = 10_000


@dataclass
class _Entry:
    version: tuple[bytes, bytes]
    kept_at: float
    token: dict[str, Any]  # column values, copied: the request's objects may expire
    tenant: dict[str, Any]
    plan: dict[str, Any]
    plan_plugins: frozenset[str]
    switched_off: frozenset[str]
    settings: dict[str, Any] | None


class TokenCache:
    """One app's kept tokens (`app.extensions["premia_api_tokens"]`)."""

    def __init__(self) -> None:
        # A token's id and tenant never change: known from the first request, they tell
        # which rate-limit key and which version to read before anything else.
        self.identities: dict[str, tuple[int, int]] = {}
        self.entries: dict[str, _Entry] = {}


def authenticate(
    session: Session, secret: str, idempotency_key: str | None
) -> tuple[tokens.Credential | None, bool | None]:
    """The caller's credential (None: unknown or revoked), and whether the rate limit let
    the request through (None: not asked yet; the caller hits it)."""
    limiter, limit = current_app.extensions["premia_api_limits"]
    kept: TokenCache = current_app.extensions["premia_api_tokens"]
    storage = limiter.storage
    hashed = tokens.hash_token(secret)
    identity = kept.identities.get(hashed)
    if identity is None or not isinstance(storage, RedisStorage):
        credential = tokens.authenticate(session, secret, idempotency_key)
        if credential is not None and isinstance(storage, RedisStorage):
            _remember(kept.identities, hashed, (credential.token.id, credential.tenant.id))
        return credential, None
    token_id, tenant_id = identity
    acquired, values = _hit_and_versions(storage, limit, token_id, tenant_id)
    version = version_of(values)
    entry = kept.entries.get(hashed)
    if (
        entry is not None
        and entry.version == version
        and time.monotonic() - entry.kept_at < MAX_AGE
    ):
        return _credential(session, entry), bool(acquired)
    # Read afresh, after the version: a change committed since publishes a newer one.
    credential = tokens.authenticate(session, secret, idempotency_key)
    if credential is None:
        kept.entries.pop(hashed, None)
    elif version is None:
        start_versions(storage.get_connection(), tenant_id)  # kept from the next request
    else:
        _remember(kept.entries, hashed, _entry(credential, version))
    return credential, bool(acquired)


def _hit_and_versions(
    storage: RedisStorage, limit: Any, token_id: int, tenant_id: int
) -> tuple[Any, list]:
    """The rate-limit hit and the tenant's versions, in one round trip to Redis.

    limits' moving-window script goes by its digest (EVALSHA). Handed to a pipeline as a
    script object, redis-py asks SCRIPT EXISTS first, in a round trip of its own, at
    every request. Where Redis lost the script (a restart, SCRIPT FLUSH), the command
    fails without counting the hit: loaded, sent again."""
    script = storage.lua_acquire_moving_window
    key = storage.prefixed_key(limit.key_for("api", str(token_id)))

    def send() -> tuple[Any, list]:
        pipe = storage.get_connection().pipeline(transaction=False)
        pipe.evalsha(script.sha, 1, key, time.time(), limit.amount, limit.get_expiry(), 1)
        pipe.mget(version_keys(tenant_id))
        acquired, values = pipe.execute()
        return acquired, values

    try:
        return send()
    except NoScriptError:
        storage.get_connection().script_load(script.script)
        return send()


def touch(session: Session, credential: tokens.Credential, secret: str) -> None:
    """`tokens.touch`, remembered here too (no UPDATE from every request once a minute
    has passed since the token was kept)."""
    if tokens.touch(session, credential.token):
        kept: TokenCache = current_app.extensions["premia_api_tokens"]
        entry = kept.entries.get(tokens.hash_token(secret))
        if entry is not None:
            entry.token["last_used_at"] = credential.token.last_used_at


def _remember(kept: dict, key: str, value: Any) -> None:
    if len(kept) >= MAX_ENTRIES:  # bounded: many tokens, one process
        kept.clear()
    kept[key] = value


def _columns(obj: Any) -> dict[str, Any]:
    return {attr.key: obj.__dict__[attr.key] for attr in obj.__mapper__.column_attrs}


def _entry(credential: tokens.Credential, version: tuple[bytes, bytes]) -> _Entry:
    return _Entry(
        version=version,
        kept_at=time.monotonic(),
        token=_columns(credential.token),
        tenant=_columns(credential.tenant),
        plan=_columns(credential.tenant.plan),
        plan_plugins=credential.plan_plugins,
        switched_off=credential.switched_off,
        settings=credential.settings,
    )


def _detached(cls: type, values: dict[str, Any]) -> Any:
    """A persistent object as a query would have loaded it, not yet in a session."""
    obj = cls.__mapper__.class_manager.new_instance()
    obj.__dict__.update(values)
    make_transient_to_detached(obj)
    return obj


def _credential(session: Session, entry: _Entry) -> tokens.Credential:
    """The kept credential, its objects in `session` as the token statement leaves them."""
    token = _detached(ApiToken, entry.token)
    tenant = _detached(Tenant, {**entry.tenant, "plan": _detached(Plan, entry.plan)})
    session.add(token)
    session.add(tenant)  # and its plan
    current_platform().plugins.known_audience(
        session, tenant, set(entry.plan_plugins), set(entry.switched_off)
    )
    known_settings(session, entry.settings)
    return tokens.Credential(
        token=token,
        tenant=tenant,
        api_active="api" in entry.plan_plugins - entry.switched_off,
        stored_answer=tokens.UNREAD,
        plan_plugins=entry.plan_plugins,
        switched_off=entry.switched_off,
        settings=entry.settings,
    )
