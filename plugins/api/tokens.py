"""API tokens: created by the merchant, stored as a hash, scoped, revocable."""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, bindparam, func, select, update
from sqlalchemy.orm import Session, defaultload
from sqlalchemy.orm.attributes import set_committed_value

from core.sdk import (
    UNVERSIONED,
    InvalidInput,
    NotFound,
    Plan,
    PlanPlugin,
    Tenant,
    TenantPlugin,
    credential_lookup,
    current_platform,
    every_setting_of,
    known_settings,
    utcnow,
)
from plugins.api.models import ApiToken, IdempotentResponse

PREFIX = "prm_"
# Reads (program, customers, rewards, entries) need no scope: a POS always needs them.
SCOPES = {
    "customers:write": _l("Create customers"),
    "points:write": _l("Give points"),
    "redemptions:write": _l("Redeem rewards, confirm and cancel redemptions"),
    "rewards:write": _l("Create and change rewards"),
    "program:write": _l("Change the program settings"),
    # The webhooks plugin's endpoints (Api.add_plugin_endpoints), when it is installed.
    "webhooks:write": _l("Manage webhook endpoints"),
}
DEFAULT_SCOPES = ("customers:write", "points:write", "redemptions:write")
LAST_USED_PRECISION = timedelta(minutes=1)  # at most one UPDATE per token and minute


UNREAD = "unread"  # a Credential's stored answer, when it was not read with the token


@dataclass(frozen=True)
class Credential:
    """Who is calling: the token and its tenant, and whether the tenant has the API on;
    with what the statement read along (kept by `token_cache`)."""

    token: ApiToken
    tenant: Tenant
    api_active: bool
    # For the request's Idempotency-Key: the answer stored, None, or UNREAD.
    stored_answer: IdempotentResponse | str | None = None
    plan_plugins: frozenset[str] = frozenset()
    switched_off: frozenset[str] = frozenset()
    settings: dict | None = None  # every namespace's stored data


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_scopes(value: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """'all', a comma-separated list, or a list of scope names."""
    if value is None:
        return list(DEFAULT_SCOPES)
    names = value.split(",") if isinstance(value, str) else list(value)
    names = [n.strip() for n in names if n.strip()]
    if names == ["all"]:
        return sorted(SCOPES)
    unknown = [n for n in names if n not in SCOPES]
    if unknown or not names:
        raise InvalidInput(
            scopes=_l("Unknown scope. Known scopes: %(scopes)s.", scopes=", ".join(sorted(SCOPES)))
        )
    return sorted(set(names))


def create_token(
    session: Session,
    *,
    name: str,
    scopes: list[str] | None = None,
    created_by: str | None = None,
) -> tuple[ApiToken, str]:
    """A new token for the session's tenant; returns the row and the secret, shown once."""
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise InvalidInput(name=_l("Give the token a name of up to 120 characters."))
    scopes = parse_scopes(scopes)
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        prefix=secret[:12],
        token_hash=hash_token(secret),
        scopes=" ".join(scopes),
        created_by=created_by,
    )
    session.add(token)
    session.flush()
    return token, secret


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke_token(session: Session, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id) if isinstance(token_id, int) else None
    if token is None:
        raise NotFound(token=_l("There is no such token."))
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
    return token


def authenticate(
    session: Session, secret: str, idempotency_key: str | None = None
) -> Credential | None:
    """The live token with this secret, in one statement, in a session with no tenant yet.

    The same statement reads the tenant, its plan's plugins and the ones it switched
    off: whether the API is on for it, and who hears the request's announcements
    (`PluginHost.known_audience`), cost no further round trip, nor do its settings
    (every namespace: `known_settings`); and, given the
    request's `idempotency_key`, the answer stored for it by this tenant, if any."""
    if not secret.startswith(PREFIX) or len(secret) > 100:
        return None
    params = {"token_hash": hash_token(secret)}
    if idempotency_key is not None:
        params["idempotency_key"] = idempotency_key
    statement = _credential_statement(with_answer=idempotency_key is not None)
    row = credential_lookup(session, statement, params).first()
    if row is None:
        return None
    token, tenant = row[0], row[1]
    allowed, off = frozenset((row[2] or "").split()), frozenset((row[3] or "").split())
    current_platform().plugins.known_audience(session, tenant, set(allowed), set(off))
    known_settings(session, row[4])  # the rules a request applies read no more
    return Credential(
        token=token,
        tenant=tenant,
        api_active="api" in allowed - off,
        stored_answer=row[5] if idempotency_key is not None else None,
        plan_plugins=allowed,
        switched_off=off,
        settings=row[4],
    )


@functools.cache
def _credential_statement(*, with_answer: bool) -> Select:
    """Built once: on every API request, building it cost more than running it."""
    plan_plugins = (
        select(func.aggregate_strings(PlanPlugin.plugin, " "))
        .where(PlanPlugin.plan_id == Tenant.plan_id)
        .scalar_subquery()
    )
    switched_off = (
        select(func.aggregate_strings(TenantPlugin.plugin, " "))
        .where(TenantPlugin.tenant_id == Tenant.id, TenantPlugin.enabled.is_(False))
        .scalar_subquery()
    )
    statement = (
        select(ApiToken, Tenant, plan_plugins, switched_off, every_setting_of(Tenant.id))
        .join(Tenant, Tenant.id == ApiToken.tenant_id)
        .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None))
        # The plan's plugins are in the row already: no second SELECT for them.
        .options(defaultload(Tenant.plan).lazyload(Plan.plugins))
    )
    if with_answer:
        statement = statement.add_columns(IdempotentResponse).outerjoin(
            IdempotentResponse,
            # The token's tenant, spelled out: this statement runs before the scoping.
            and_(
                IdempotentResponse.tenant_id == ApiToken.tenant_id,
                IdempotentResponse.key == bindparam("idempotency_key"),
            ),
        )
    return statement


def touch(session: Session, token: ApiToken, now: datetime | None = None) -> bool:
    """Record that the token was used, at most once a minute (no write per request);
    whether it wrote."""
    now = now or utcnow()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        session.execute(
            update(ApiToken)
            .where(ApiToken.id == token.id)
            .values(last_used_at=now)
            # Its tenant's cached tokens stay valid (core.host.versions).
            .execution_options(synchronize_session=False, **{UNVERSIONED: True})
        )
        set_committed_value(token, "last_used_at", now)
        return True
    return False
