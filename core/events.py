"""Announcements to plugins, made after the transaction that caused them commits.

`announce(session, "points_recorded", entry=entry)` calls that hook for the
plugins active for the session's tenant once the session commits, each plugin
on its own: one that fails is logged and the others still run, so a broken
plugin never undoes a sale.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from core.db import after_commit, current_transaction, session_tenant_id

log = logging.getLogger(__name__)


def announce(session: Session, hook: str, **kwargs: Any) -> None:
    """Call `hook` with `kwargs` (and `tenant`) on the plugins active for the session's
    tenant once the session's outermost transaction commits; nothing if it rolls back."""
    if "announcements" not in session.info:
        app = current_app._get_current_object()
        plugins = app.extensions["premia"].plugins
        # Who listens is read once per transaction, in it, before the commit.
        tenant, active = plugins.audience(session, session_tenant_id(session))

        def fire() -> None:
            batch = [(name, args) for _t, name, args in session.info.pop("announcements", [])]
            with app.app_context():
                for name, args in batch:
                    plugins.call(active, name, tenant=tenant, **args)

        after_commit(session, fire, outermost=True)
        session.info["announcements"] = []  # only once `fire` is sure to run
    session.info["announcements"].append((current_transaction(session), hook, kwargs))


def notify(session: Session, member: Any, topic: str, context: dict[str, Any]) -> None:
    """Ask the channels (e-mail, push…) to tell `member` about `topic` once the session
    commits: the `notify` hook, with `context` as plain data for the message."""
    announce(session, "notify", member=member, topic=topic, context=context)


def call_robustly(hookimpls: list[Any], hook: str, kwargs: dict[str, Any]) -> list[Any]:
    """Call each implementation on its own; log and skip the ones that fail."""
    results = []
    for impl in hookimpls:
        try:
            args = [kwargs[name] for name in impl.argnames]
            result = impl.function(*args)
        except Exception:
            log.exception("plugin %s failed in hook %s", impl.plugin_name, hook)
            continue
        if result is not None:
            results.append(result)
    return results
