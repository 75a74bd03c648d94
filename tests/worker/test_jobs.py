"""Jobs and runners: after commit only, plugin re-checks, rq queues and workers, scheduling."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from redis import Redis
from rq import SimpleWorker, Worker
from rq.job import JobStatus
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy import func, select

import worker.jobs
from core.host import outbox
from core.host.actors import Actor
from core.host.contributions import PeriodicJob
from core.host.db import platform_session, tenant_session, utcnow
from core.loyalty import ledger
from core.loyalty.customers import create_member
from core.loyalty.expiry import ExpiryRun
from core.loyalty.program import get_program, update_program
from plugins.notifications.models import Delivery
from tenants import services as tenant_services
from tenants.models import Tenant
from tests.worker import sample_jobs
from worker.jobs import enqueue, set_worker_app, tenant_job
from worker.runners import InProcessRunner, RqRunner

STAFF = Actor.staff(1)


@pytest.fixture(autouse=True)
def ran():
    sample_jobs.RAN.clear()
    yield sample_jobs.RAN
    sample_jobs.RAN.clear()


@pytest.fixture
def shop(make_tenant):
    return make_tenant()  # the free plan: notifications active


# --- the embedded runner -------------------------------------------------


def test_the_embedded_runner_is_used_without_redis(platform):
    assert isinstance(platform.jobs, InProcessRunner)
    assert platform.jobs.raise_errors  # app.testing


def test_job_runs_after_commit_and_sees_the_committed_data(shop, make_member, db, ran):
    member = make_member(shop)
    with db(shop) as session:
        ledger.earn(session, member, points=50, actor=STAFF)
        enqueue(session, sample_jobs.see_balance, shop.id, member.id)
        session.flush()
        assert ran == []
        session.commit()
        assert ran == [("balance", 50)]


def test_job_of_a_rolled_back_transaction_never_runs(shop, make_member, db, ran):
    member = make_member(shop)
    with db(shop) as session:
        ledger.earn(session, member, points=50, actor=STAFF)
        enqueue(session, sample_jobs.record, shop.id, "rolled back")
        session.rollback()
        # the session's next transaction commits its own jobs only
        enqueue(session, sample_jobs.record, shop.id, "committed")
        session.commit()
    assert ran == [("record", shop.slug, "committed")]


def test_job_queued_before_any_query_is_dropped_by_rollback(shop, db, ran):
    with db(shop) as session:
        enqueue(session, sample_jobs.record, shop.id, "rolled back")
        session.rollback()
        enqueue(session, sample_jobs.record, shop.id, "committed")
        session.commit()
    assert ran == [("record", shop.slug, "committed")]


def test_job_of_a_session_closed_without_commit_never_runs(shop, make_member, db, ran):
    member = make_member(shop)
    with db(shop) as session:
        ledger.earn(session, member, points=50, actor=STAFF)
        enqueue(session, sample_jobs.record, shop.id, "closed")
        session.close()
        # a closed session may be used again: its next commit is a new transaction
        enqueue(session, sample_jobs.record, shop.id, "reused")
        session.commit()
    assert ran == [("record", shop.slug, "reused")]
    with db(shop) as session:
        assert ledger.audit_member(session, member.id) == (0, 0, 0)


def test_job_queued_in_a_savepoint_waits_for_the_outer_commit(shop, db, ran):
    with db(shop) as session:
        with session.begin_nested():
            enqueue(session, sample_jobs.record, shop.id, "inner")
        assert ran == []
        session.commit()
    assert ran == [("record", shop.slug, "inner")]


def test_job_without_a_session_runs_at_once(shop, ran):
    enqueue(None, sample_jobs.record, shop.id, "now")
    assert ran == [("record", shop.slug, "now")]


def test_a_suspended_merchants_jobs_are_skipped_but_the_platforms_own(shop, platform, ran):
    with platform_session(platform.sessions) as session:
        session.get(Tenant, shop.id).suspended_at = utcnow()
        session.commit()
    enqueue(None, sample_jobs.record, shop.id, "a mail")
    enqueue(None, sample_jobs.record_while_suspended, shop.id, "an export")
    assert ran == [("record_while_suspended", shop.slug, "an export")]
    with platform_session(platform.sessions) as session:
        session.get(Tenant, shop.id).suspended_at = None
        session.commit()
    enqueue(None, sample_jobs.record, shop.id, "a mail")
    assert ran[1:] == [("record", shop.slug, "a mail")]


def test_failing_job_raises_in_tests_and_is_recorded(shop, db, platform, ran):
    with db(shop) as session:
        update_program(session, {"welcome_points": 5})
        enqueue(session, sample_jobs.fail, shop.id, "boom")
        enqueue(session, sample_jobs.record, shop.id, "after the failure")
        with pytest.raises(RuntimeError, match="boom"):
            session.commit()
    assert [f[:3] for f in platform.jobs.failed] == [
        ("fail", (shop.id, "boom"), "RuntimeError('boom')")
    ]
    assert ran == [("record", shop.slug, "after the failure")]  # the other job still ran
    with db(shop) as session:
        assert get_program(session)["welcome_points"] == 5  # the transaction was committed


def test_failing_job_is_logged_and_kept_when_not_raising(shop, caplog):
    runner = InProcessRunner(raise_errors=False)
    with caplog.at_level(logging.ERROR, logger="worker.runners"):
        assert runner.enqueue(sample_jobs.fail, shop.id, "quiet") is None
    assert [f[:3] for f in runner.failed] == [("fail", (shop.id, "quiet"), "RuntimeError('quiet')")]
    assert "job fail" in caplog.text and "RuntimeError: quiet" in caplog.text


def test_tenant_job_rechecks_its_plugin(shop, make_plan, make_tenant, db, platform, ran):
    assert sample_jobs.notifications_only(shop.id, "on") == "on"
    with db(shop) as session:
        platform.plugins.switch(session, shop, "notifications", False)
        session.commit()
    assert sample_jobs.notifications_only(shop.id, "off") is None
    make_plan("bare", set())
    bare = make_tenant(plan="bare")
    assert sample_jobs.notifications_only(bare.id, "not in plan") is None
    assert ran == [("notifications_only", shop.slug, "on")]


def test_tenant_job_for_a_missing_tenant_does_nothing(app, ran):
    assert sample_jobs.record(987654, "ghost") is None
    assert ran == []


def test_tenant_job_session_is_scoped_and_committed(shop, make_member, db):
    member = make_member(shop)
    sample_jobs.give_points(shop.id, member.id, 25)
    with db(shop) as session:
        assert ledger.audit_member(session, member.id) == (25, 25, 25)


def test_unknown_queue_is_refused():
    with pytest.raises(ValueError, match="unknown queue"):
        tenant_job(queue="urgent")


def test_job_outside_any_app_needs_a_worker_app(monkeypatch):
    monkeypatch.setattr(worker.jobs, "_worker_app", None)
    result = []
    thread = threading.Thread(target=lambda: result.append(_job_app_error()))
    thread.start()
    thread.join()
    assert result == ["no application for this job: start it with `premia worker`"]


def _job_app_error():
    try:
        worker.jobs.job_app()
    except RuntimeError as exc:
        return str(exc)
    return None


def test_embedded_scheduler_runs_each_periodic_job_once_per_interval(ran):
    runner = InProcessRunner()
    runner.periodic = [PeriodicJob("tests.heartbeat", sample_jobs.heartbeat, every=60)]
    assert runner.run_due(now=1000.0) == ["tests.heartbeat"]
    assert runner.run_due(now=1059.0) == []
    assert runner.run_due(now=1060.0) == ["tests.heartbeat"]
    assert ran == [("heartbeat",), ("heartbeat",)]


# --- rq on Redis ---------------------------------------------------------


@pytest.fixture
def rq_app(make_app, redis_url, monkeypatch):
    """An app queueing on Redis, whose jobs an in-process rq worker runs."""
    monkeypatch.setattr(worker.jobs, "_worker_app", None)
    application = make_app(PREMIA_REDIS_URL=redis_url)
    set_worker_app(application)
    return application


def _work(runner, *names):
    """Run an rq worker in burst mode on these queues, as `premia worker` would, then
    relay the outbox rows its jobs' commits wrote (its relay thread would)."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return SimpleWorker([runner.queue(n) for n in names], connection=runner.redis).work(
            burst=True
        )
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        outbox.relay(worker.jobs.job_app())


def _tenant(application, **fields):
    values = {
        "slug": "rq-shop",
        "name": "RQ Shop",
        "plan": "free",
        "currency": "COP",
        "country": "CO",
        "timezone": "America/Bogota",
        "owner_email": "owner@rq.example",
        "owner_password": "correct-horse-9",
        **fields,
    }
    sessions = application.extensions["premia"].sessions
    with application.app_context(), platform_session(sessions) as session:
        tenant = tenant_services.create_tenant(session, **values)
        session.commit()
        return tenant


def _member(application, tenant, email):
    sessions = application.extensions["premia"].sessions
    with application.app_context(), tenant_session(sessions, tenant.id) as session:
        member = create_member(session, email=email, first_name="Eva", actor=Actor.system())
        session.commit()
    assert outbox.relay(application) == 1  # as a worker's relay does: its welcome e-mail
    return member


def _count(application, tenant, model):
    with tenant_session(application.extensions["premia"].sessions, tenant.id) as session:
        return session.scalar(select(func.count()).select_from(model))


@pytest.mark.redis
def test_mail_job_is_queued_on_mail_and_sent_by_a_worker(rq_app, smtp_server):
    runner = rq_app.extensions["premia"].jobs
    assert isinstance(runner, RqRunner)
    tenant = _tenant(rq_app)
    member = _member(rq_app, tenant, "eva@mail.example")

    mail = runner.queue("mail")
    assert [(j.func_name, j.args) for j in mail.jobs] == [
        (
            "plugins.notifications.jobs.mail_member",
            (tenant.id, member.id, "welcome", f"welcome:{member.id}", {}),
        ),
    ]
    assert runner.queue("default").count == 0
    assert smtp_server.handler.messages == []  # queued, not sent

    assert _work(runner, "mail")  # no app context here: the worker app is used
    messages = smtp_server.handler.wait_for(1)
    assert [m["To"] for m in messages] == ["eva@mail.example"]
    assert mail.count == 0
    assert _count(rq_app, tenant, Delivery) == 1


@pytest.mark.redis
def test_job_is_queued_only_on_commit_and_changes_the_ledger(rq_app):
    runner = rq_app.extensions["premia"].jobs
    tenant = _tenant(rq_app)
    member = _member(rq_app, tenant, "fer@mail.example")
    bulk = runner.queue("bulk")
    with rq_app.app_context():
        sessions = rq_app.extensions["premia"].sessions
        with tenant_session(sessions, tenant.id) as session:
            enqueue(session, sample_jobs.give_points, tenant.id, member.id, 99)
            session.rollback()
            enqueue(session, sample_jobs.give_points, tenant.id, member.id, 30)
            assert bulk.count == 0
            session.commit()
    assert bulk.count == 0  # in the outbox: a worker's relay queues it
    assert outbox.relay(rq_app) == 1
    assert [j.args for j in bulk.jobs] == [(tenant.id, member.id, 30)]

    assert _work(runner, "bulk")
    with tenant_session(rq_app.extensions["premia"].sessions, tenant.id) as session:
        assert ledger.audit_member(session, member.id) == (30, 30, 30)
    assert bulk.count == 0
    # The worker's own commit announced the points: their e-mail is queued in turn.
    assert [j.args[2] for j in runner.queue("mail").jobs] == ["welcome", "points_received"]


@pytest.mark.redis
def test_queued_job_is_skipped_when_its_plugin_was_switched_off(rq_app, smtp_server):
    runner = rq_app.extensions["premia"].jobs
    tenant = _tenant(rq_app)
    _member(rq_app, tenant, "gil@mail.example")
    (job,) = runner.queue("mail").jobs
    with rq_app.app_context():
        platform = rq_app.extensions["premia"]
        with tenant_session(platform.sessions, tenant.id) as session:
            platform.plugins.switch(session, tenant, "notifications", False)
            session.commit()

    assert _work(runner, "mail")
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() is None  # skipped, not failed
    assert smtp_server.handler.messages == []
    assert _count(rq_app, tenant, Delivery) == 0


def _two_workers(redis_url, periodic):
    runners = [RqRunner(Redis.from_url(redis_url)) for _ in range(2)]
    for runner in runners:
        runner.periodic = periodic
    return runners


def _at_once(runners, now):
    """Both runners schedule at the same instant, concurrently."""
    barrier = threading.Barrier(len(runners))

    def schedule(runner):
        barrier.wait()
        return runner.enqueue_due_periodic(now)

    with ThreadPoolExecutor(len(runners)) as pool:
        return [name for queued in pool.map(schedule, runners) for name in queued]


@pytest.mark.redis
def test_periodic_jobs_are_queued_once_per_interval_across_workers(redis_url):
    periodic = [
        PeriodicJob("tests.minutely", sample_jobs.heartbeat, every=60),
        PeriodicJob("tests.hourly", sample_jobs.heartbeat, every=3600, queue="bulk"),
    ]
    first, second = _two_workers(redis_url, periodic)
    now = 1_800_000_000.0  # the start of an hour

    assert sorted(_at_once([first, second], now)) == ["tests.hourly", "tests.minutely"]
    assert (first.queue("default").count, first.queue("bulk").count) == (1, 1)

    assert _at_once([first, second], now + 59) == []  # same minute, same hour
    assert _at_once([first, second], now + 60) == ["tests.minutely"]
    assert _at_once([first, second], now + 3599) == ["tests.minutely"]
    assert sorted(_at_once([first, second], now + 3600)) == ["tests.hourly", "tests.minutely"]
    assert (first.queue("default").count, first.queue("bulk").count) == (4, 2)


@pytest.mark.redis
def test_periodic_expiry_runs_once_through_rq(rq_app, make_app, redis_url):
    """Two worker processes schedule the core's expiry; one run per tenant results."""
    other_process = make_app(PREMIA_REDIS_URL=redis_url)
    runners = [a.extensions["premia"].jobs for a in (rq_app, other_process)]
    # Installed plugins (birthday, …) schedule their own jobs next to the core's.
    assert "core.expiry" in {job.name for job in runners[0].periodic}
    tenant = _tenant(rq_app)

    assert _at_once(runners, 1_800_000_000.0).count("core.expiry") == 1
    assert _work(runners[0], "default")  # the tick, then the expiry job it queued
    with tenant_session(rq_app.extensions["premia"].sessions, tenant.id) as session:
        runs = session.scalars(select(ExpiryRun)).all()
    assert [(r.tenant_id, r.entries) for r in runs] == [(tenant.id, 0)]


def test_an_embedded_server_runs_the_scheduler_from_its_first_request(make_app, monkeypatch):
    started = []
    monkeypatch.setattr(
        InProcessRunner, "start_scheduler", lambda self, app, tick=30.0: started.append(app)
    )
    app = make_app(TESTING=False)
    assert started == []  # building the app (a CLI command) starts nothing
    assert app.test_client().get("/healthz").status_code == 200
    assert started == [app]


def test_the_real_scheduler_starts_once_per_process(app):
    runner = InProcessRunner()
    first = runner.start_scheduler(app, tick=3600)
    assert runner.start_scheduler(app, tick=3600) is first and first.is_alive()


def test_jobs_take_ids_and_plain_data_never_objects(shop, make_member, db):
    member = make_member(shop)
    with pytest.raises(TypeError, match="Membership"):
        worker.jobs.enqueue(None, sample_jobs.record, shop.id, member)
    with pytest.raises(TypeError, match="Membership"):
        worker.jobs.enqueue(None, sample_jobs.record, shop.id, {"who": member})


def test_a_bulk_job_may_run_an_hour_others_rqs_default(redis_url):
    runner = RqRunner(Redis.from_url(redis_url))
    bulk = runner.enqueue(sample_jobs.give_points, 1, 1, 5)
    other = runner.enqueue(sample_jobs.record, 1, "x")
    assert (bulk.timeout, other.timeout) == (3600, 180)
    for job in (bulk, other):
        job.delete()


@pytest.mark.redis
def test_jobs_queued_in_a_batch_reach_redis_together_when_it_ends(rq_app):
    runner = rq_app.extensions["premia"].jobs
    tenant = _tenant(rq_app)
    member = _member(rq_app, tenant, "lia@mail.example")
    bulk = runner.queue("bulk")
    with rq_app.app_context():
        with runner.batch():
            enqueue(None, sample_jobs.give_points, tenant.id, member.id, 5)
            with runner.batch():  # joins the outer one
                enqueue(None, sample_jobs.give_points, tenant.id, member.id, 6)
            assert bulk.count == 0  # nothing sent yet
        assert [j.args for j in bulk.jobs] == [(tenant.id, member.id, 5), (tenant.id, member.id, 6)]
        enqueue(None, sample_jobs.give_points, tenant.id, member.id, 7)  # no batch: at once
        assert bulk.count == 3


@pytest.mark.redis
def test_an_announcements_jobs_are_sent_in_one_batch(rq_app, monkeypatch):
    """The listeners of one commit queue their jobs (the points e-mail…) in one round
    trip: the batch is open while they run."""
    runner = rq_app.extensions["premia"].jobs
    tenant = _tenant(rq_app)
    member = _member(rq_app, tenant, "noa@mail.example")
    executed = []
    real = type(runner.redis.pipeline()).execute

    def counted(pipeline, *args, **kwargs):
        executed.append(len(pipeline.command_stack))
        return real(pipeline, *args, **kwargs)

    monkeypatch.setattr(type(runner.redis.pipeline()), "execute", counted)
    with rq_app.app_context():
        sessions = rq_app.extensions["premia"].sessions
        with tenant_session(sessions, tenant.id) as session:
            found = session.get(type(member), member.id)
            ledger.adjust(session, found, 10, actor=Actor.system(), description="a")
            ledger.adjust(session, found, 20, actor=Actor.system(), description="b")
            session.commit()
    assert executed == []  # the committing process queues nothing: the outbox holds it
    assert outbox.relay(rq_app) == 1
    assert len(executed) == 1  # two points e-mails, one round trip
    assert [j.args[2] for j in runner.queue("mail").jobs] == [
        "welcome",
        "points_received",
        "points_received",
    ]


# --- a worker killed mid-job ---------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def _premia_worker(application, *options):
    """`premia worker` in a process of its own, on the app's database and Redis."""
    config = application.config
    env = {
        **os.environ,
        "PREMIA_DATABASE_URL": config["PREMIA_DATABASE_URL"],
        "PREMIA_REDIS_URL": config["PREMIA_REDIS_URL"],
        "PYTHONPATH": str(ROOT),
    }
    command = [str(Path(sys.executable).parent / "premia"), "worker", *options]
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)


def _with_children(pid):
    """The process and every process under it (rq forks a work horse for each job)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += _with_children(int(child))
    return found


def _wait(condition, seconds=60.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.redis
def test_a_job_whose_worker_was_killed_is_retried_and_counts_once(rq_app):
    runner = rq_app.extensions["premia"].jobs
    tenant = _tenant(rq_app)
    member = _member(rq_app, tenant, "kim@mail.example")
    attempts = f"tests:slow_earn:{member.id}"
    job = runner.enqueue(sample_jobs.slow_earn, tenant.id, member.id, 7, 4.0)

    doomed = _premia_worker(rq_app, "--burst")
    try:
        _wait(lambda: runner.redis.get(attempts) == b"1")
        for pid in _with_children(doomed.pid):  # the worker and its work horse, mid-job
            os.kill(pid, signal.SIGKILL)
        doomed.wait(10)
    finally:
        if doomed.poll() is None:
            doomed.kill()
    started = StartedJobRegistry(queue=runner.queue("default"))
    assert job.get_status() == JobStatus.STARTED  # what rq leaves of a dead worker's job
    assert job.id in started.get_job_ids(cleanup=False)
    # A live worker's job looks the same until its heartbeat lapses: left alone.
    assert runner.recover_abandoned() == []
    assert job.get_status() == JobStatus.STARTED

    # Once the heartbeat has lapsed (rq's 60 s grace past its last one), a tick retries it.
    assert runner.recover_abandoned(now=time.time() + 120) == [job.id]
    assert job.get_status() == JobStatus.SCHEDULED  # after Retry's first interval
    assert job.id not in started.get_job_ids(cleanup=False)
    due = ScheduledJobRegistry(queue=runner.queue("default")).get_scheduled_time(job)
    time.sleep(max(0.0, due.timestamp() - time.time()) + 0.5)

    rescuer = _premia_worker(rq_app, "--burst")
    try:
        assert rescuer.wait(120) == 0
    finally:
        if rescuer.poll() is None:
            rescuer.kill()
    assert job.get_status() == JobStatus.FINISHED
    assert runner.redis.get(attempts) == b"2"
    with tenant_session(rq_app.extensions["premia"].sessions, tenant.id) as session:
        entries = session.scalars(
            select(ledger.Entry).where(ledger.Entry.member_id == member.id)
        ).all()
        assert [e.points for e in entries] == [7]
        assert session.get(type(member), member.id).balance == 7


@pytest.mark.redis
def test_a_worker_without_bulk_runs_jobs_in_its_process_and_a_killed_ones_job_is_retried(
    rq_app,
):
    runner = rq_app.extensions["premia"].jobs
    tenant = _tenant(rq_app)
    member = _member(rq_app, tenant, "noa@mail.example")
    attempts = f"tests:slow_earn:{member.id}"
    job = runner.enqueue(sample_jobs.slow_earn, tenant.id, member.id, 5, 4.0)

    doomed = _premia_worker(rq_app, "--burst", "--queue", "mail", "--queue", "default")
    try:
        _wait(lambda: runner.redis.get(attempts) == b"1")
        assert _with_children(doomed.pid) == [doomed.pid]  # the job runs in the worker itself
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(10)
    finally:
        if doomed.poll() is None:
            doomed.kill()
    assert job.get_status() == JobStatus.STARTED
    # No work horse beats for it: the entry lasts the job's timeout (rq's 180 s) plus 60 s.
    assert runner.recover_abandoned(now=time.time() + 120) == []
    assert runner.recover_abandoned(now=time.time() + 250) == [job.id]
    due = ScheduledJobRegistry(queue=runner.queue("default")).get_scheduled_time(job)
    time.sleep(max(0.0, due.timestamp() - time.time()) + 0.5)

    rescuer = _premia_worker(rq_app, "--burst", "--queue", "default")
    try:
        assert rescuer.wait(120) == 0
    finally:
        if rescuer.poll() is None:
            rescuer.kill()
    assert job.get_status() == JobStatus.FINISHED
    assert runner.redis.get(attempts) == b"2"
    with tenant_session(rq_app.extensions["premia"].sessions, tenant.id) as session:
        assert session.get(type(member), member.id).balance == 5


@pytest.mark.redis
def test_a_job_whose_worker_died_before_starting_it_is_queued_again(rq_app):
    """rq's worker takes a job and registers it as running before its work horse marks
    it started; a worker killed in between (seen in bench/soak.py) left the job in no
    queue, dropped by rq's own cleanup."""
    runner = rq_app.extensions["premia"].jobs
    tenant = _tenant(rq_app)
    member = _member(rq_app, tenant, "lia@mail.example")
    job = runner.enqueue(sample_jobs.give_points, tenant.id, member.id, 9)
    dying = Worker([runner.queue("bulk")], connection=runner.redis)
    taken, queue = dying.dequeue_job_and_maintain_ttl(timeout=1)
    dying.prepare_execution(taken)  # what the worker does before forking; then it dies
    assert taken.id == job.id and queue.count == 0
    assert job.get_status() == JobStatus.QUEUED

    assert runner.recover_abandoned() == []  # its heartbeat may be live: left alone
    assert runner.recover_abandoned(now=time.time() + 120) == [job.id]
    assert queue.job_ids == [job.id]
    assert StartedJobRegistry(queue=queue).get_job_ids(cleanup=False) == []
    _work(runner, "bulk")
    assert job.get_status() == JobStatus.FINISHED
    with tenant_session(rq_app.extensions["premia"].sessions, tenant.id) as session:
        assert session.get(type(member), member.id).balance == 9
    assert runner.recover_abandoned(now=time.time() + 120) == []  # nothing left to recover
