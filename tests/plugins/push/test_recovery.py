"""A batch job killed mid-batch (its worker and work horse SIGKILLed while FCM has not
answered): rq retries it (`RqRunner.recover_abandoned`), the retry takes back the batch
its killed attempt left "sending", and the report completes. Real Redis, real
`premia worker` processes, the real firebase-admin against the fake FCM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from rq.job import JobStatus
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

import worker.jobs
from plugins.push import jobs, sends
from plugins.push.models import Delivery, DeliveryStatus, Send, SendStatus
from tests.plugins.push.conftest import FIREBASE
from tests.plugins.push.test_sends import campaign, report
from worker.jobs import set_worker_app

ROOT = Path(__file__).resolve().parents[3]

# `premia worker` with firebase-admin sending to the fake FCM (argv[1]).
WORKER = (
    "import sys\n"
    "from tests.plugins.push.fake_fcm import point_firebase_admin_at\n"
    "point_firebase_admin_at(sys.argv[1])\n"
    "from core.cli import main\n"
    "main(['worker', '--burst', '--queue', 'bulk'], standalone_mode=False)\n"
)


@pytest.fixture
def rq_app(make_app, redis_url, fcm, monkeypatch):
    monkeypatch.setattr(worker.jobs, "_worker_app", None)
    application = make_app(
        PREMIA_REDIS_URL=redis_url, PREMIA_FIREBASE_CREDENTIALS=str(fcm.key), **FIREBASE
    )
    set_worker_app(application)
    return application


def _premia_worker(application, fcm):
    config = application.config
    env = {
        **os.environ,
        "PREMIA_DATABASE_URL": config["PREMIA_DATABASE_URL"],
        "PREMIA_REDIS_URL": config["PREMIA_REDIS_URL"],
        "PREMIA_FIREBASE_CREDENTIALS": str(fcm.key),
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, fcm.url], cwd=ROOT, env=env, start_new_session=True
    )


def _with_children(pid):
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += _with_children(int(child))
    return found


def _wait(condition, seconds=90.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.redis
def test_a_batch_job_killed_mid_batch_is_retried_and_its_report_completes(
    rq_app, db, shop, make_member, add_devices, fcm
):
    runner = rq_app.extensions["premia"].jobs
    first = [f"ok-{n:03}" for n in range(500)]  # batch 0
    add_devices(shop, make_member(shop), *first)
    add_devices(shop, make_member(shop), "k-1", "k-2", "slow-1")  # batch 1
    send_id = campaign(db, shop)
    with rq_app.app_context():
        assert jobs.start_send(shop.id, send_id) == 1  # one job: batches 0 and 1
    (job,) = runner.queue("bulk").jobs

    doomed = _premia_worker(rq_app, fcm)
    try:  # batch 0 recorded; batch 1 taken, two messages accepted, one held: kill
        _wait(lambda: fcm.attempts["slow-1"] == 1 and {"k-1", "k-2"} <= set(fcm.tokens()))
        for pid in _with_children(doomed.pid):
            os.kill(pid, signal.SIGKILL)
        doomed.wait(10)
    finally:
        if doomed.poll() is None:
            doomed.kill()
    with db(shop) as session:
        left = dict(session.execute(select(Delivery.token, Delivery.status)).all())
    assert {left[t] for t in first} == {DeliveryStatus.SENT}
    assert {left[t] for t in ("k-1", "k-2", "slow-1")} == {DeliveryStatus.SENDING}
    assert report(db, shop, send_id).waiting == 3

    # The worker's heartbeat lapses; a scheduler's tick retries the job (its same claim).
    assert runner.recover_abandoned(now=time.time() + 120) == [job.id]
    due = ScheduledJobRegistry(queue=runner.queue("bulk")).get_scheduled_time(job)
    time.sleep(max(0.0, due.timestamp() - time.time()) + 0.5)
    rescuer = _premia_worker(rq_app, fcm)
    try:
        assert rescuer.wait(120) == 0
    finally:
        if rescuer.poll() is None:
            rescuer.kill()
    assert job.get_status() == JobStatus.FINISHED
    assert report(db, shop, send_id) == sends.Report(503, 503, 0, 0, 0)
    with db(shop) as session:
        assert session.get(Send, send_id).status == SendStatus.DONE
    sent = Counter(fcm.tokens())
    assert all(sent[t] == 1 for t in first)  # recorded before the kill: never again
    assert sent["slow-1"] == 1
    # At-least-once for the batch in flight: FCM took these before the kill, unrecorded.
    assert sent["k-1"] == sent["k-2"] == 2
