"""The health page: on real Redis, queues, a failed job with its error (retried: it runs;
or dropped), live workers, the scheduler's tick, the outbox's rows not relayed yet;
embedded, the in-process runner's failures. Every retry and drop is audited."""

from __future__ import annotations

import re
import signal

import pytest
from rq import Queue, SimpleWorker
from sqlalchemy import select

import worker.jobs
from core.host import outbox
from core.host.actors import Actor
from core.host.db import platform_session, tenant_session
from core.loyalty import ledger
from core.loyalty.members import Membership
from core.operator.accounts import create_operator
from core.operator.models import AuditEntry
from tests.core.operator import flaky_jobs
from tests.core.operator.conftest import OPERATOR_EMAIL, OPERATOR_PASSWORD, Console, enrol, text
from worker.jobs import set_worker_app
from worker.runners import InProcessRunner


def _work(redis, *names):
    """An rq worker in burst mode, in this process (as `premia worker` would, once)."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        SimpleWorker([Queue(n, connection=redis) for n in names], connection=redis).work(burst=True)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


@pytest.fixture
def rq_console(make_app, redis_url, monkeypatch):
    from core.testing.factories import FreshContextClient

    monkeypatch.setattr(worker.jobs, "_worker_app", None)
    application = make_app(PREMIA_REDIS_URL=redis_url)
    set_worker_app(application)
    application.test_client_class = FreshContextClient
    with (
        application.app_context(),
        platform_session(application.extensions["premia"].sessions) as session,
    ):
        create_operator(session, OPERATOR_EMAIL, OPERATOR_PASSWORD)
        session.commit()
    client = application.test_client()
    secret, codes = enrol(client)
    return application, Console(client, secret, codes)


def _queue(page: str, name: str) -> list[int]:
    row = page.split(f'<tr class="queue-{name}">')[1].split("</tr>")[0]
    return [int(n) for n in re.findall(r'<td class="number">(\d+)</td>', row)]


def _actions(application) -> list[tuple[str, str]]:
    with platform_session(application.extensions["premia"].sessions) as session:
        return [
            (e.action, e.target)
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            if e.action.startswith("job_")
        ]


@pytest.mark.redis
def test_a_failed_job_is_listed_with_its_error_and_retried_it_runs(rq_console):
    application, console = rq_console
    redis = application.extensions["premia"].redis
    runner = application.extensions["premia"].jobs
    redis.set(flaky_jobs.FAIL_KEY, "1")
    job = runner.queue("default").enqueue(flaky_jobs.flaky, "caja-1")  # no retries of rq's
    page = text(console.get("/operator/health"))
    assert _queue(page, "default") == [1, 0, 0, 0]  # waiting, running, scheduled, failed
    _work(redis, "default")

    page = text(console.get("/operator/health"))
    assert "tests.core.operator.flaky_jobs.flaky" in page
    assert "RuntimeError: the till is offline (caja-1)" in page
    assert f'data-job="{job.id}"' in page
    assert _queue(page, "default") == [0, 0, 0, 1]
    assert redis.lrange(flaky_jobs.DONE_KEY, 0, -1) == []

    redis.delete(flaky_jobs.FAIL_KEY)  # the till is back
    answer = console.post(f"/operator/health/jobs/{job.id}/retry", page="/operator/health")
    assert answer.status_code == 302
    assert "La tarea está en cola de nuevo." in text(console.get("/operator/health"))
    _work(redis, "default")
    assert redis.lrange(flaky_jobs.DONE_KEY, 0, -1) == [b"caja-1"]
    page = text(console.get("/operator/health"))
    assert "Ninguna tarea fallida." in page
    assert _actions(application) == [("job_retry", "tests.core.operator.flaky_jobs.flaky")]


@pytest.mark.redis
def test_a_failed_job_can_be_dropped_and_a_gone_one_answers_an_error(rq_console):
    application, console = rq_console
    redis = application.extensions["premia"].redis
    redis.set(flaky_jobs.FAIL_KEY, "1")
    job = application.extensions["premia"].jobs.queue("mail").enqueue(flaky_jobs.flaky, "x")
    _work(redis, "mail")
    assert console.post(f"/operator/health/jobs/{job.id}/drop").status_code == 302
    assert "Ninguna tarea fallida." in text(console.get("/operator/health"))
    gone = console.post(f"/operator/health/jobs/{job.id}/retry")
    assert "Esta tarea fallida ya no está." in text(console.client.get(gone.headers["Location"]))
    assert _actions(application) == [("job_drop", "tests.core.operator.flaky_jobs.flaky")]


@pytest.mark.redis
def test_checks_workers_and_the_schedulers_tick(rq_console):
    application, console = rq_console
    runner = application.extensions["premia"].jobs
    page = text(console.get("/operator/health"))
    assert "Ningún worker está vivo." in page
    assert page.count('<td class="ok">Bien</td>') == 2  # database and Redis
    assert 'Última pasada del programador</th><td colspan="2">Nunca' in page
    runner.enqueue_due_periodic(now=1_900_000_000.0)
    page = text(console.get("/operator/health"))
    assert "Nunca" not in page.split("Última pasada del programador")[1][:60]
    assert runner.last_tick() == 1_900_000_000.0


def test_embedded_failures_are_listed_retried_and_dropped(console, platform, app):
    runner = platform.jobs
    assert isinstance(runner, InProcessRunner)
    runner.raise_errors = False  # as when serving: logged and kept, not raised
    flaky_jobs.FAILING[:] = [True]
    flaky_jobs.RAN.clear()
    runner.enqueue(flaky_jobs.embedded_flaky, "a")
    runner.enqueue(flaky_jobs.embedded_flaky, "b")
    page = text(console.get("/operator/health"))
    assert "Las tareas corren en este proceso" in page
    assert page.count("RuntimeError('the till is offline") == 4  # summary and details, twice
    first, second = runner.failed[0], runner.failed[1]
    flaky_jobs.FAILING.clear()
    console.post(f"/operator/health/jobs/{first.id}/retry")
    assert flaky_jobs.RAN == ["a"]
    console.post(f"/operator/health/jobs/{second.id}/drop")
    assert list(runner.failed) == []
    assert flaky_jobs.RAN == ["a"]
    assert "Ninguna tarea fallida." in text(console.get("/operator/health"))


def _outbox(page: str) -> str:
    return page.split('<tr class="outbox">')[1].split("</tr>")[0]


@pytest.mark.redis
def test_committed_announcements_not_queued_yet_are_counted_until_relayed(
    rq_console, make_tenant, make_member, db
):
    application, console = rq_console
    shop = make_tenant(slug="cafe-outbox")
    member = make_member(shop)
    # With rq a web process leaves what its commit announced to a worker's relay: none
    # runs here, so the earn's announcement waits in the outbox.
    with (
        tenant_session(application.extensions["premia"].sessions, shop.id) as session,
        application.test_request_context(),
    ):
        ledger.earn(session, session.get(Membership, member.id), points=10, actor=Actor.system())
        session.commit()
    row = _outbox(text(console.get("/operator/health")))
    assert '<td class="number">1</td>' in row and "el más antiguo desde" in row
    assert outbox.relay(application) == 1
    row = _outbox(text(console.get("/operator/health")))
    assert '<td class="number">0</td>' in row and "antiguo" not in row
