"""The outbox: a transaction's announcements and jobs, written in it, relayed at least once."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import ProgrammingError

import worker.jobs
from core.cli import main
from core.host import outbox
from core.host.actors import Actor
from core.host.db import platform_session, tenant_session
from core.loyalty import ledger
from core.loyalty.customers import create_member
from core.loyalty.ledger import Kind
from core.loyalty.members import Membership
from tenants.models import Tenant
from tests.core import recorder_plugin
from tests.worker import sample_jobs
from worker.jobs import enqueue, set_worker_app

pytestmark = pytest.mark.premia_plugins(recorder_plugin)

STAFF = Actor.staff(1)


class Tone(Enum):
    WARM = "warm"


@pytest.fixture
def with_recorder(make_plan):
    return make_plan("with-recorder", {"recorder"})


@pytest.fixture
def shop(with_recorder, make_tenant):
    return make_tenant(plan="with-recorder")


@pytest.fixture
def rq_app(make_app, redis_url, monkeypatch):
    """An app as production runs it: jobs on Redis, its commits relayed by workers."""
    monkeypatch.setattr(worker.jobs, "_worker_app", None)
    application = make_app(PREMIA_REDIS_URL=redis_url, PREMIA_EXTRA_PLUGINS=[recorder_plugin])
    set_worker_app(application)
    return application


def _rows(application, ids: bool = False) -> list[dict]:
    sessions = application.extensions["premia"].sessions
    with application.app_context(), platform_session(sessions) as session:
        rows = session.scalars(select(outbox.OutboxRow).order_by(outbox.OutboxRow.id)).all()
        found = [{"tenant_id": r.tenant_id, **json.loads(r.body)} for r in rows]
        return [{"id": r.id, **f} for r, f in zip(rows, found, strict=True)] if ids else found


def _earn(application, tenant, email: str, points: int, *, then=None):
    """A member earning, committed in one transaction (an API earn's shape)."""
    with application.app_context():
        sessions = application.extensions["premia"].sessions
        with tenant_session(sessions, tenant.id) as session:
            member = create_member(session, email=email, actor=STAFF)
            entry = ledger.earn(session, member, points=points, actor=STAFF)
            if then is not None:
                then(session, member)
            session.commit()
            return member.id, entry.id


# --- values ---------------------------------------------------------------


def test_values_come_back_as_they_were_kept():
    value = {
        "points": 5,
        "amount": Decimal("45000.50"),
        "on": date(2026, 3, 31),
        "at": datetime(2026, 3, 31, 23, 59, tzinfo=UTC),
        "tone": Tone.WARM,
        "nested": [{"$m": "looks like a tag"}, None, True, 1.5],
    }
    kept = json.loads(json.dumps(outbox.dump(value)))
    assert outbox.load(kept, {}) == value
    assert type(outbox.load(kept, {})["tone"]) is Tone
    with pytest.raises(TypeError):
        outbox.dump({"ids": {1, 2}})


# --- in-process (the embedded default and the tests) ------------------------


def test_a_commit_is_relayed_here_once_and_a_rollback_not_at_all(shop, platform, recorder):
    with tenant_session(platform.sessions, shop.id) as session:
        member = create_member(session, email="ana@mail.example", actor=STAFF)
        ledger.earn(session, member, points=7, actor=STAFF)
        session.rollback()
    assert recorder.calls == []

    with tenant_session(platform.sessions, shop.id) as session:
        member = create_member(session, email="ana@mail.example", actor=STAFF)
        ledger.earn(session, member, points=7, actor=STAFF)
        session.commit()
    assert [hook for hook, _slug, _detail in recorder.calls] == ["member_created", "entry_recorded"]
    assert recorder.hooks("entry_recorded") == [(shop.slug, (Kind.EARN, 7, member.id))]
    with platform_session(platform.sessions) as session:  # deleted by the committing process
        assert session.scalar(select(func.count()).select_from(outbox.OutboxRow)) == 0


def test_the_row_is_written_in_the_committing_transaction(rq_app, shop, recorder):
    """Rolled back, no row; committed, one row with every announcement and job of
    the transaction, and nothing run or queued by the committing process."""
    runner = rq_app.extensions["premia"].jobs
    with rq_app.app_context():
        sessions = rq_app.extensions["premia"].sessions
        with tenant_session(sessions, shop.id) as session:
            create_member(session, email="ana@mail.example", actor=STAFF)
            enqueue(session, sample_jobs.record, shop.id, "rolled back")
            session.rollback()
    assert _rows(rq_app) == []

    def queue_two(session, member):
        enqueue(session, sample_jobs.record, shop.id, "kept")
        savepoint = session.begin_nested()
        enqueue(session, sample_jobs.record, shop.id, "in a savepoint rolled back")
        ledger.earn(session, member, points=1, actor=STAFF)
        savepoint.rollback()

    member_id, entry_id = _earn(rq_app, shop, "ana@mail.example", 9, then=queue_two)
    (row,) = _rows(rq_app)
    assert row["tenant_id"] == shop.id
    assert [hook for hook, _kwargs in row["a"]] == ["member_created", "entry_recorded"]
    assert row["j"] == [["tests.worker.sample_jobs:record", [shop.id, "kept"]]]
    assert recorder.calls == []  # the web process runs no hook
    assert all(runner.queue(name).count == 0 for name in worker.jobs.QUEUES)

    assert outbox.relay(rq_app) == 1
    assert recorder.hooks("entry_recorded") == [(shop.slug, (Kind.EARN, 9, member_id))]
    assert recorder.hooks("member_created") == [(shop.slug, member_id)]
    assert [j.args for j in runner.queue("default").jobs] == [(shop.id, "kept")]
    assert _rows(rq_app) == []
    assert outbox.relay(rq_app) == 0  # relayed once
    assert entry_id


@pytest.mark.postgres
def test_with_rq_the_row_goes_out_with_the_commit_and_fails_it_whole(
    rq_app, shop, recorder, monkeypatch
):
    """With rq on psycopg the row is no statement of its own: it is sent in one pipeline
    with COMMIT; an INSERT that fails there fails the commit, and nothing is kept."""
    engine = rq_app.extensions["premia"].engine
    sent: list[tuple[str, bool]] = []

    def seen(_conn, cursor, statement, *_args) -> None:
        sent.append((statement.split()[0], cursor.connection._pipeline is not None))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        _earn(rq_app, shop, "ana@mail.example", 9)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert sent[-1] == ("INSERT", True), sent  # the outbox row, in COMMIT's pipeline
    assert not [s for s in sent[:-1] if s[1] and s[0] == "INSERT"]
    (row,) = _rows(rq_app)
    assert [hook for hook, _kwargs in row["a"]] == ["member_created", "entry_recorded"]
    assert outbox.relay(rq_app) == 1
    assert [hook for hook, _slug, _detail in recorder.calls] == ["member_created", "entry_recorded"]

    monkeypatch.setattr(outbox, "_INSERT_SQL", outbox._INSERT_SQL.replace("outbox", "no_such"))
    with pytest.raises(ProgrammingError):
        _earn(rq_app, shop, "bea@mail.example", 5)
    assert _rows(rq_app) == []
    with rq_app.app_context(), tenant_session(rq_app.extensions["premia"].sessions, shop.id) as s:
        assert s.scalar(select(func.count()).select_from(Membership)) == 1  # Ana's only


def test_a_killed_web_process_loses_nothing_the_worker_relays_it(
    rq_app, make_tenant, with_recorder, smtp_server, make_plan
):
    """The web process commits and dies (nothing after its commit runs: with rq it
    runs nothing anyway). A `premia worker --burst` relays the row, queues the
    points e-mail and sends it."""
    make_plan("mail-and-recorder", {"recorder", "notifications"})
    tenant = make_tenant(plan="mail-and-recorder")
    runner = rq_app.extensions["premia"].jobs
    member_id, entry_id = _earn(rq_app, tenant, "eva@mail.example", 40)
    assert len(_rows(rq_app)) == 1
    assert runner.queue("mail").count == 0

    with rq_app.app_context():  # not the fixtures' app
        result = rq_app.test_cli_runner().invoke(main, ["worker", "--burst", "--queue", "mail"])
    assert result.exit_code == 0, result.output
    assert _rows(rq_app) == []
    sent = smtp_server.handler.wait_for(2)  # welcome, then the points
    assert sorted(m["To"] for m in sent) == ["eva@mail.example"] * 2
    assert recorder_plugin.hooks("entry_recorded") == [(tenant.slug, (Kind.EARN, 40, member_id))]
    assert entry_id


def test_a_relay_killed_before_its_commit_relays_again(rq_app, shop, recorder, monkeypatch):
    """At least once: the jobs reached Redis, the delete did not commit."""
    runner = rq_app.extensions["premia"].jobs
    _earn(
        rq_app,
        shop,
        "ana@mail.example",
        3,
        then=lambda s, m: enqueue(s, sample_jobs.record, shop.id, "x"),
    )
    real_commit = outbox.Session.commit

    def dies(session):
        raise SystemExit("killed")

    monkeypatch.setattr(outbox.Session, "commit", dies)
    with pytest.raises(SystemExit):
        outbox.relay(rq_app)
    monkeypatch.setattr(outbox.Session, "commit", real_commit)
    assert runner.queue("default").count == 1
    assert len(_rows(rq_app)) == 1
    assert outbox.relay(rq_app) == 1
    assert runner.queue("default").count == 2  # again: the job is idempotent
    assert len(recorder.hooks("entry_recorded")) == 2


@pytest.mark.postgres
def test_a_row_another_relay_holds_is_skipped_not_waited_for(rq_app, shop, recorder):
    ids = [_earn(rq_app, shop, f"m{n}@mail.example", n + 1)[1] for n in range(3)]
    sessions = rq_app.extensions["premia"].sessions
    with rq_app.app_context(), platform_session(sessions) as holder:
        first = holder.scalars(
            select(outbox.OutboxRow).order_by(outbox.OutboxRow.id).limit(1).with_for_update()
        ).one()
        assert outbox.relay(rq_app) == 2  # the other two, at once
        assert [
            points for _kind, points, _m in (d for _s, d in recorder.hooks("entry_recorded"))
        ] == [
            2,
            3,
        ]
        assert [row["id"] for row in _rows(rq_app, ids=True)] == [first.id]  # held, left
        holder.rollback()
    assert outbox.relay(rq_app) == 1
    assert sorted(d[1] for _s, d in recorder.hooks("entry_recorded")) == [1, 2, 3]
    assert ids


@pytest.mark.postgres
def test_two_relays_at_once_never_relay_one_row_twice(rq_app, shop, recorder):
    runner = rq_app.extensions["premia"].jobs
    for n in range(40):
        _earn(rq_app, shop, f"m{n}@mail.example", n + 1)
    barrier = threading.Barrier(2)
    relayed = []

    def relay() -> None:
        barrier.wait()
        while count := outbox.relay(rq_app, limit=3):
            relayed.append(count)

    threads = [threading.Thread(target=relay) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(relayed) == 40
    points = sorted(detail[1] for _slug, detail in recorder.hooks("entry_recorded"))
    assert points == list(range(1, 41))
    assert _rows(rq_app) == []
    assert runner.queue("default").count == 0


def test_relayed_hooks_run_for_the_rows_tenant_only(rq_app, shop, make_tenant, recorder):
    """Each row's hooks run scoped to its tenant, for the plugins active for it: a
    merchant without the recorder hears nothing, another with it only its own."""
    other = make_tenant(plan="with-recorder")
    without = make_tenant()
    mine = _earn(rq_app, shop, "ana@mail.example", 5)
    theirs = _earn(rq_app, other, "ana@mail.example", 6)
    _earn(rq_app, without, "ana@mail.example", 7)
    assert sorted(row["tenant_id"] for row in _rows(rq_app)) == sorted(
        [shop.id, other.id, without.id]
    )
    assert outbox.relay(rq_app) == 3
    assert sorted(recorder.hooks("entry_recorded")) == sorted(
        [(shop.slug, (Kind.EARN, 5, mine[0])), (other.slug, (Kind.EARN, 6, theirs[0]))]
    )


def test_a_merchant_gone_has_its_rows_dropped_by_the_relay(rq_app, shop, recorder):
    """The outbox keeps its merchant's id without a key to `tenants` (core_0022: that
    key locked the merchant's row at every commit): a row whose merchant is gone is
    relayed to no one and deleted with the batch, beside another merchant's."""
    _earn(rq_app, shop, "ana@mail.example", 5)
    sessions = rq_app.extensions["premia"].sessions
    with rq_app.app_context(), platform_session(sessions) as session:
        gone = (session.scalar(select(func.max(Tenant.id))) or 0) + 1000
        session.add(outbox.OutboxRow(tenant_id=gone, body=json.dumps({"a": [], "j": []})))
        session.commit()
    assert sorted(row["tenant_id"] for row in _rows(rq_app)) == [shop.id, gone]
    assert outbox.relay(rq_app) == 2
    assert _rows(rq_app) == []
    assert [hook for hook, _slug, _detail in recorder.calls] == ["member_created", "entry_recorded"]


def test_the_embedded_scheduler_relays_what_a_killed_process_left(shop, platform, app, recorder):
    """A row whose committing process died before deleting it: the scheduler's tick
    relays it once it is older than a live process could leave it; a fresh one waits."""
    with tenant_session(platform.sessions, shop.id) as session:
        member = create_member(session, email="ana@mail.example", actor=STAFF)
        session.commit()
    recorder.calls.clear()
    with tenant_session(platform.sessions, shop.id) as session:
        found = session.get(type(member), member.id)
        body = {"a": [["member_created", outbox.dump({"member": found})]], "j": []}
        old = datetime.now(UTC) - timedelta(minutes=5)
        session.add(outbox.OutboxRow(body=json.dumps(body), created_at=old))
        session.add(outbox.OutboxRow(body=json.dumps(body)))
        session.commit()
    assert outbox.relay(app, older_than=outbox.STALE_SECONDS) == 1
    assert recorder.calls == [("member_created", shop.slug, member.id)]
    assert len(_rows(app)) == 1  # the fresh one: its process may be about to relay it


def test_a_relayed_hook_sees_the_record_as_it_was_at_the_commit(rq_app, shop, recorder):
    """A redemption handed over, then changed before the relay ran: its announcement
    still says "confirmed", as it was at the commit (its e-mail and push are sent)."""
    from core.loyalty import rewards

    sessions = rq_app.extensions["premia"].sessions
    with rq_app.app_context(), tenant_session(sessions, shop.id) as session:
        member = create_member(session, email="ana@mail.example", actor=STAFF)
        ledger.earn(session, member, points=100, actor=STAFF)
        reward = rewards.create_reward(session, name="Café", points=10)
        session.commit()
        redemption = rewards.redeem_reward(session, member, reward, actor=STAFF)
        session.commit()
        redemption.status = rewards.Status.CANCELLED  # changed since, unannounced
        session.commit()
    assert outbox.relay(rq_app) == 2
    assert recorder.hooks("redemption_changed") == [
        (shop.slug, (redemption.id, rewards.Status.CONFIRMED)),
    ]
