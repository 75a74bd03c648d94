"""Jobs: functions run later, by an rq worker or, embedded, in-process.

A job takes a tenant id and record ids, never ORM objects. It reloads its
tenant, re-checks that its plugin is still active, runs in a session scoped to
that tenant, and commits. Jobs may be run twice (a retried worker crash), so
each must be idempotent.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, g, has_app_context
from sqlalchemy.orm import Session

from core.host import outbox
from core.host.db import after_commit, tenant_session
from tenants.models import Tenant

log = logging.getLogger(__name__)

# Named queues so that one tenant's bulk import never delays everyone's e-mail, and a
# slow webhook receiver never delays anything but webhooks.
QUEUES = ("mail", "default", "bulk", "webhooks")

_worker_app: Flask | None = None  # the app of an rq worker process


def set_worker_app(app: Flask) -> None:
    global _worker_app
    _worker_app = app


def job_app() -> Flask:
    if has_app_context():
        return current_app._get_current_object()
    if _worker_app is None:
        raise RuntimeError("no application for this job: start it with `premia worker`")
    return _worker_app


def tenant_job(
    queue: str = "default", plugin: str | None = None, while_suspended: bool = False
) -> Callable:
    """Make `func(session, tenant, *ids)` a job called as `job(tenant_id, *ids)`.

    A merchant the operators suspended sends nothing and changes nothing: its jobs are
    skipped (periodic ones are queued again after it is reactivated), except those that
    serve the platform itself (`while_suspended`, an operator's export of its data)."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def run(tenant_id: int, *args: Any) -> Any:
            app = job_app()
            with app.app_context():
                platform = app.extensions["premia"]
                with tenant_session(platform.sessions, tenant_id) as session:
                    tenant = session.get(Tenant, tenant_id)
                    if tenant is None:
                        log.warning("job %s: tenant %s is gone", func.__name__, tenant_id)
                        return None
                    if tenant.suspended_at is not None and not while_suspended:
                        log.info("job %s: %s is suspended", func.__name__, tenant.slug)
                        return None
                    if plugin and plugin not in platform.plugins.active(session, tenant):
                        log.info(
                            "job %s: plugin %s is off for %s", func.__name__, plugin, tenant.slug
                        )
                        return None
                    g.tenant = tenant
                    # Run in-process inside a request, templates (flask-login's context
                    # loading the staff user) reach `core.web.request.db()`: the job's session.
                    g.db = session
                    result = func(session, tenant, *args)
                    session.commit()
                    return result

        run.queue = queue  # type: ignore[attr-defined]
        return run

    return decorate


def platform_job(queue: str = "default") -> Callable:
    """A job of the platform itself (across tenants), called with plain arguments."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def run(*args: Any) -> Any:
            app = job_app()
            with app.app_context():
                return func(*args)

        run.queue = queue  # type: ignore[attr-defined]
        return run

    return decorate


def enqueue(session: Session | None, job: Callable, *args: Any) -> None:
    """Queue `job(*args)`; with a session, only once its transaction commits.

    A tenant session's jobs are also written to its transaction's outbox row
    (core.host.outbox): with rq a worker's relay queues them from there, so that a
    web process killed after its commit loses none."""
    _check_plain(args)
    platform = job_app().extensions["premia"]
    runner = platform.jobs
    if session is None:
        runner.enqueue(job, *args)
        return
    kept = outbox.add_job(session, job, args, platform)
    if not kept or outbox.relays_in_process(platform):
        after_commit(session, lambda: runner.enqueue(job, *args))


PLAIN = (int, str, float, bool, type(None))


def _check_plain(value: Any) -> None:
    """Jobs get ids and plain data: an ORM object would be stale, or unpicklable, later."""
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_plain(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_plain(key)
            _check_plain(item)
    elif not isinstance(value, PLAIN):
        raise TypeError(f"job arguments must be ids and plain data, not {type(value).__name__}")
