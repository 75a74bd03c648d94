"""Versions of what a request reads about its merchant, in Redis: per-process caches
stay safe.

The POS API reads the same things on every request: the token, its tenant, the
plan's plugins, the ones switched off, the settings. They change rarely, so a
process may keep them, but a revoked token or a changed plan must count on the
very next request, whichever process serves it. So every write to a model marked
`Versioned` (the tenant row, plans and their plugins, a tenant's plugins and
settings, API tokens) gives, once its transaction commits, a new random version to
its tenant (or to the platform, for a plan); a cache keeps an entry only while the
two versions it was read under still hold, and reads them in a Redis round trip
the request sends anyway (the API's rate-limit hit).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session

log = logging.getLogger(__name__)

PLATFORM_KEY = "premia:version:platform"
CHANGED = "premia_versions_changed"  # session.info: the scopes written (tenant id, or None)
UNVERSIONED = "premia_unversioned"  # execution option of a write no cache cares about


class Versioned:
    """Mixin for a model whose rows per-process caches keep: a write to one changes
    the version of `version_scope()`'s tenant (None: every tenant's)."""

    def version_scope(self) -> int | None:
        return self.tenant_id  # type: ignore[attr-defined]


def tenant_key(tenant_id: int) -> str:
    return f"premia:version:tenant:{tenant_id}"


def keys(tenant_id: int) -> list[str]:
    """The keys whose values together make `tenant_id`'s version."""
    return [PLATFORM_KEY, tenant_key(tenant_id)]


def version(values: list[Any]) -> tuple[bytes, bytes] | None:
    """The version read from `keys` (MGET); None while either is missing (never set
    yet, or Redis emptied): nothing may be cached under it."""
    if len(values) != 2 or values[0] is None or values[1] is None:
        return None
    return values[0], values[1]


def start(redis: Any, tenant_id: int) -> None:
    """Give the missing versions a value (random: a version emptied and started again
    never matches one read before)."""
    pipe = redis.pipeline(transaction=False)
    for key in keys(tenant_id):
        pipe.set(key, secrets.token_hex(8), nx=True)
    pipe.execute()


def bump(redis: Any, scopes: set[int | None]) -> None:
    """New versions for these tenants (None: the platform's, so every tenant's)."""
    pipe = redis.pipeline(transaction=False)
    for scope_ in scopes:
        pipe.set(PLATFORM_KEY if scope_ is None else tenant_key(scope_), secrets.token_hex(8))
    pipe.execute()


def _note(session: Session, scope_: int | None) -> None:
    session.info.setdefault(CHANGED, set()).add(scope_)


@event.listens_for(Session, "after_flush")
def _written(session: Session, _context: Any) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Versioned) and (obj in session.new or _changed(session, obj)):
            _note(session, obj.version_scope())


def _changed(session: Session, obj: Any) -> bool:
    """A deleted row, or a column changed that is not one of the model's
    `unversioned` ones (an API token's last use)."""
    if obj in session.deleted:
        return True
    skip = getattr(obj, "unversioned", ())
    return any(attr.key not in skip and attr.history.has_changes() for attr in inspect(obj).attrs)


@event.listens_for(Session, "do_orm_execute")
def _bulk_written(state: ORMExecuteState) -> None:
    """An UPDATE or DELETE statement on a versioned model (not through the unit of
    work): its session's tenant, or every tenant for a platform session."""
    if not (state.is_update or state.is_delete) or state.execution_options.get(UNVERSIONED):
        return
    if any(issubclass(m.class_, Versioned) for m in state.all_mappers):
        tenant_id = state.session.info.get("tenant_id")
        _note(state.session, tenant_id if isinstance(tenant_id, int) else None)


@event.listens_for(Session, "after_commit")
def _announce(session: Session) -> None:
    if session.in_nested_transaction():
        return
    scopes = session.info.pop(CHANGED, None)
    redis = session.info.get("redis")
    if not scopes or redis is None:
        return
    try:
        bump(redis, scopes)
    except Exception:  # the data is committed; caches see it when their entries age out
        log.exception("could not publish new versions for %s", scopes)
