"""Announcements to plugins, made after the transaction that caused them commits.

`announce(session, "entry_recorded", entry=entry, member=member)` calls that hook for the
plugins active for the session's tenant once the session commits, each plugin
on its own: one that fails is logged and the others still run, so a broken
plugin never undoes a sale. The announcements are also written to the
transaction's outbox row (core/host/outbox.py): run by this process right after
the commit where jobs run in-process, by a worker's relay with rq.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from typing import Any

import pluggy
from flask import current_app
from sqlalchemy import event, inspect
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import Session

from core.host import outbox
from core.host.db import after_commit, current_transaction, session_tenant_id
from core.host.topics import TopicError

log = logging.getLogger(__name__)

# Hooks called once at start-up, never announced.
START_UP_HOOKS = frozenset(
    {"blueprints", "startup", "periodic_jobs", "notification_topics", "delivered_topics"}
)


def announce(session: Session, hook: str, **kwargs: Any) -> None:
    """Call `hook` with `kwargs` (and `tenant`) on the plugins active for the session's
    tenant once the session's outermost transaction commits; nothing if it rolls back."""
    app = current_app._get_current_object()
    plugins = app.extensions["premia"].plugins
    if not hasattr(plugins.pm.hook, hook) or hook in START_UP_HOOKS:
        raise ValueError(f"{hook!r} is not a hook that announces (see core/hookspecs.py)")
    if hook == "notify" and not _topic_fits(app, plugins, kwargs["topic"], kwargs["context"]):
        return
    outbox.keep_for(session, app.extensions["premia"])
    if "announcements" not in session.info and outbox.relays_in_process(app.extensions["premia"]):
        # Who listens is read once per transaction, in it, before the commit. (With rq,
        # a worker relays the transaction's outbox row: nothing runs here after commit.)
        tenant, active = plugins.audience(session, session_tenant_id(session))

        def fire() -> None:
            batch = [(name, args) for _t, name, args in session.info.pop("announcements", [])]
            # The jobs the listeners queue (an earn's e-mail, push, referral check) reach
            # the queue together: one round trip to Redis, not one per job.
            with app.app_context(), app.extensions["premia"].jobs.batch():
                for name, args in batch:
                    plugins.call(active, name, tenant=tenant, **args)

        after_commit(session, fire, outermost=True)
        session.info["announcements"] = []  # only once `fire` is sure to run
    # Also written to the transaction's outbox row (core.host.outbox), which commits
    # with it: a process killed after the commit loses nothing.
    session.info.setdefault("announcements", []).append(
        (current_transaction(session), hook, kwargs)
    )


@event.listens_for(Session, "before_commit")
def _announced_readable_after_commit(session: Session) -> None:
    """The tenant and the records an announcement carries (an entry, a member), loaded
    again before the commit if something expired them since (a bulk service's
    `expire_all`): after the commit the session emits no SQL, and a listener reading
    `tenant.slug` or `member.id` would fail."""
    announcements = session.info.get("announcements")
    platform = session.info.get("outbox_platform")
    if not announcements or (platform is not None and not outbox.relays_in_process(platform)):
        return  # with rq, a worker reads them again when it relays the outbox row
    records = [cached[1]] if (cached := session.info.get("premia_audience")) else []
    for _transaction, _hook, kwargs in announcements:
        records.extend(kwargs.values())
    for record in records:
        state = inspect(record, raiseerr=False)
        if state is not None and state.session is session and state.expired_attributes:
            with suppress(InvalidRequestError):  # deleted since: nothing to read again
                session.refresh(record)


def notify(session: Session, member: Any, topic: str, context: dict[str, Any]) -> None:
    """Tell `member` something (a declared topic, see core/topics.py) after commit,
    through the channels active for the tenant (the `notify` hook)."""
    announce(session, "notify", member=member, topic=topic, context=context)


def _topic_fits(app: Any, plugins: Any, topic: str, context: dict[str, Any]) -> bool:
    """An undeclared topic or a context that does not fit it is a programming error:
    loud in tests and development; in production it is logged and the message
    dropped, never allowed to break the sale that sent it."""
    try:
        plugins.topics.check(topic, context)
    except TopicError:
        if app.testing or app.debug:
            raise
        log.exception("notification dropped")
        return False
    return True


def call_robustly(
    pm: pluggy.PluginManager, caller: pluggy.HookCaller, kwargs: dict[str, Any]
) -> list[Any]:
    """Call each implementation of `caller` through pluggy on its own, in the order the
    plugins were installed; log and skip the ones that fail."""
    results = []
    for impl in caller.get_hookimpls():
        others = [plugin for _name, plugin in pm.list_name_plugin() if plugin is not impl.plugin]
        try:
            answer = pm.subset_hook_caller(caller.name, remove_plugins=others)(**kwargs)
        except Exception:
            log.exception("plugin %s failed in hook %s", impl.plugin_name, caller.name)
            continue
        results.extend(answer)
    return results
