"""The monthly expiry, on the 1st at midnight in each tenant's own time zone."""

from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime, timedelta
from email.header import decode_header, make_header

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select

from core.host.actors import Actor
from core.host.db import clock_at
from core.host.settings import save_settings
from core.loyalty import expiry, ledger
from core.loyalty.expiry import ExpiryRun, month_start
from core.loyalty.members import Membership
from core.loyalty.program import update_program
from core.loyalty.rewards import create_reward
from plugins.notifications.models import Delivery
from plugins.notifications.settings import NotificationSettings
from tenants.models import Tenant
from tests.core import recorder_plugin

pytestmark = pytest.mark.premia_plugins(recorder_plugin)

STAFF = Actor.staff(1)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


# Midnight starting 1 March 2026 in each zone, in UTC (Auckland is on summer time, +13).
MARCH = {
    "Pacific/Auckland": utc(2026, 2, 28, 11),
    "Asia/Tokyo": utc(2026, 2, 28, 15),
    "America/Bogota": utc(2026, 3, 1, 5),
}
FEBRUARY = {
    "Pacific/Auckland": utc(2026, 1, 31, 11),
    "Asia/Tokyo": utc(2026, 1, 31, 15),
    "America/Bogota": utc(2026, 2, 1, 5),
}


# --- month boundaries ----------------------------------------------------


@pytest.mark.parametrize("zone", sorted(MARCH))
def test_month_starts_at_local_midnight_of_the_1st(zone):
    tenant = Tenant(timezone=zone)
    midnight = MARCH[zone]
    assert month_start(tenant, midnight) == midnight
    assert month_start(tenant, midnight + timedelta(hours=20)) == midnight
    assert month_start(tenant, midnight - SECOND) == FEBRUARY[zone]  # still February there
    assert month_start(tenant, midnight).strftime("%Y-%m") == "2026-03"
    assert month_start(tenant, midnight - SECOND).strftime("%Y-%m") == "2026-02"


def test_same_instant_is_a_different_month_in_different_zones():
    instant = utc(2026, 2, 28, 15, 30)
    months = {zone: month_start(Tenant(timezone=zone), instant).strftime("%Y-%m") for zone in MARCH}
    assert months == {
        "Pacific/Auckland": "2026-03",
        "Asia/Tokyo": "2026-03",
        "America/Bogota": "2026-02",
    }


# --- the tick and the job ------------------------------------------------


@pytest.fixture
def bare_plan(make_plan):
    return make_plan("bare", set())  # no plugins: no e-mail on every earn


def _shop(make_tenant, db, **fields):
    tenant = make_tenant(**fields)
    with db(tenant) as session:
        update_program(session, {"expiry_months": 1})
        session.commit()
    return tenant


def _earn_lot_expiring(db, tenant, member, points, expires_at):
    """Earn `points` at the instant that makes them expire at `expires_at` (one month later)."""
    earned_at = expires_at - relativedelta(months=1)
    assert earned_at + relativedelta(months=1) == expires_at
    with clock_at(earned_at), db(tenant) as session:
        entry = ledger.earn(session, member, points=points, actor=STAFF)
        session.commit()
    return entry.id


def _runs(db, tenant):
    with db(tenant) as session:
        return [
            (r.period, r.as_of, r.entries)
            for r in session.scalars(select(ExpiryRun).order_by(ExpiryRun.period))
        ]


def _lots(db, tenant):
    with db(tenant) as session:
        return {lot.entry_id: lot.remaining for lot in session.scalars(select(ledger.Lot))}


def _expired(db, tenant):
    with db(tenant) as session:
        return [
            (e.member_id, e.points)
            for e in session.scalars(
                select(ledger.Entry).where(ledger.Entry.kind == "expire").order_by(ledger.Entry.id)
            )
        ]


def _row_counts(db, tenant):
    models = (ledger.Entry, ledger.Allocation, ledger.Lot, ExpiryRun, Delivery)
    with db(tenant) as session:
        return {m.__name__: session.scalar(select(func.count()).select_from(m)) for m in models}


def _zone_shop(make_tenant, make_member, db, zone):
    """A shop in `zone` with a member whose lots expire around its local midnight."""
    midnight = MARCH[zone]
    tenant = _shop(make_tenant, db, plan="bare", timezone=zone)
    member = make_member(tenant)
    lots = {
        "before": _earn_lot_expiring(db, tenant, member, 10, midnight - MINUTE),
        "at": _earn_lot_expiring(db, tenant, member, 20, midnight),
        "after": _earn_lot_expiring(db, tenant, member, 40, midnight + MINUTE),
    }
    return tenant, member, lots


@pytest.fixture
def world(bare_plan, make_tenant, make_member, db):
    """One such shop per zone."""
    return {zone: _zone_shop(make_tenant, make_member, db, zone) for zone in MARCH}


@pytest.fixture
def bogota(bare_plan, make_tenant, make_member, db):
    return _zone_shop(make_tenant, make_member, db, "America/Bogota")


def _processed(db, world, zone):
    tenant, _member, lots = world[zone]
    return {
        "runs": [period for period, _as_of, _n in _runs(db, tenant)],
        "lots": {name: _lots(db, tenant)[entry_id] for name, entry_id in lots.items()},
    }


UNTOUCHED = {"before": 10, "at": 20, "after": 40}
EXPIRED = {"before": 0, "at": 0, "after": 40}


def test_each_tenant_is_processed_at_its_own_midnight(world, db):
    ids = {zone: tenant.id for zone, (tenant, _m, _l) in world.items()}
    auckland, tokyo, bogota = ids["Pacific/Auckland"], ids["Asia/Tokyo"], ids["America/Bogota"]

    # A second before Auckland's midnight, every shop is still in February.
    assert sorted(expiry.tick(MARCH["Pacific/Auckland"] - SECOND)) == sorted(ids.values())
    for zone in MARCH:
        assert _processed(db, world, zone) == {"runs": ["2026-02"], "lots": UNTOUCHED}

    assert expiry.tick(MARCH["Pacific/Auckland"]) == [auckland]
    assert _processed(db, world, "Pacific/Auckland") == {
        "runs": ["2026-02", "2026-03"],
        "lots": EXPIRED,
    }
    assert _processed(db, world, "Asia/Tokyo") == {"runs": ["2026-02"], "lots": UNTOUCHED}

    assert expiry.tick(MARCH["Asia/Tokyo"] - SECOND) == []
    assert expiry.tick(MARCH["Asia/Tokyo"]) == [tokyo]
    assert _processed(db, world, "Asia/Tokyo") == {"runs": ["2026-02", "2026-03"], "lots": EXPIRED}
    assert _processed(db, world, "America/Bogota") == {"runs": ["2026-02"], "lots": UNTOUCHED}

    assert expiry.tick(MARCH["America/Bogota"] - SECOND) == []  # 23:59:59 on 28 Feb in Bogotá
    assert expiry.tick(utc(2026, 3, 1, 5, 30)) == [bogota]  # 00:30 on 1 March in Bogotá
    assert _processed(db, world, "America/Bogota") == {
        "runs": ["2026-02", "2026-03"],
        "lots": EXPIRED,
    }


def test_march_run_of_bogota_expires_what_was_due_by_its_midnight(world, db):
    tenant, member, lots = world["America/Bogota"]
    assert expiry.tick(utc(2026, 3, 1, 5, 30)) == [w[0].id for w in world.values()]

    assert _runs(db, tenant) == [("2026-03", MARCH["America/Bogota"], 1)]
    assert _expired(db, tenant) == [(member.id, -30)]
    with db(tenant) as session:
        (entry,) = session.scalars(select(ledger.Entry).where(ledger.Entry.kind == "expire"))
        allocations = {
            (a.lot_id, a.points)
            for a in session.scalars(
                select(ledger.Allocation).where(ledger.Allocation.entry_id == entry.id)
            )
        }
        lot_ids = {lot.entry_id: lot.id for lot in session.scalars(select(ledger.Lot))}
        assert entry.balance_after == 40
        assert ledger.audit_member(session, member.id) == (40, 40, 40)
    assert allocations == {(lot_ids[lots["before"]], 10), (lot_ids[lots["at"]], 20)}
    # The shops further east are already in March too; they expired their own lots.
    for zone in ("Asia/Tokyo", "Pacific/Auckland"):
        other, other_member, _lots = world[zone]
        assert _runs(db, other) == [("2026-03", MARCH[zone], 1)]
        assert _expired(db, other) == [(other_member.id, -30)]


def test_tick_and_job_twice_write_nothing_the_second_time(bogota, db):
    tenant, member, _lots = bogota
    now = utc(2026, 3, 1, 5, 30)
    assert expiry.tick(now) == [tenant.id]
    before = _row_counts(db, tenant)
    assert before["ExpiryRun"] == 1

    assert expiry.tick(now) == []
    assert expiry.tick(now + timedelta(days=10)) == []  # later in the same month
    assert expiry.expire_month(tenant.id, now.isoformat()) == 0  # a retried job

    assert _row_counts(db, tenant) == before
    assert _runs(db, tenant) == [("2026-03", MARCH["America/Bogota"], 1)]
    with db(tenant) as session:
        assert ledger.audit_member(session, member.id) == (40, 40, 40)


def test_next_month_expires_the_lots_due_by_then(bogota, db):
    tenant, member, _lots = bogota
    assert expiry.tick(utc(2026, 3, 1, 5, 30)) == [tenant.id]
    assert expiry.tick(utc(2026, 4, 1, 4, 59)) == []  # 31 March, 23:59 in Bogotá
    assert expiry.tick(utc(2026, 4, 1, 5, 0)) == [tenant.id]
    assert [r[:2] for r in _runs(db, tenant)] == [
        ("2026-03", MARCH["America/Bogota"]),
        ("2026-04", utc(2026, 4, 1, 5)),
    ]
    assert _expired(db, tenant) == [(member.id, -30), (member.id, -40)]
    with db(tenant) as session:
        assert ledger.audit_member(session, member.id) == (0, 0, 0)


def test_twin_jobs_expire_once(bogota, app, db):
    """Two workers run the same month's job at once: one does the work, one finds it done."""
    tenant, member, _lots = bogota
    now_iso = utc(2026, 3, 1, 5, 30).isoformat()
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            with app.app_context():
                barrier.wait()
                results.append(expiry.expire_month(tenant.id, now_iso))
        except Exception as exc:  # reported below, with the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == [0, 1]
    assert _runs(db, tenant) == [("2026-03", MARCH["America/Bogota"], 1)]
    assert _expired(db, tenant) == [(member.id, -30)]
    with db(tenant) as session:
        assert ledger.audit_member(session, member.id) == (40, 40, 40)


def _many_due(make_tenant, make_member, db, count):
    """A shop in Bogotá with `count` members, each with 10 points due on 1 March."""
    tenant = _shop(make_tenant, db, plan="bare")
    members = [make_member(tenant) for _ in range(count)]
    for member in members:
        _earn_lot_expiring(db, tenant, member, 10, MARCH["America/Bogota"])
    return tenant, members


def _run_keys(db, tenant):
    """One key prefix per `expire_due` call: which transaction wrote each expire entry."""
    with db(tenant) as session:
        keys = session.scalars(
            select(ledger.Entry.idempotency_key).where(ledger.Entry.kind == "expire")
        )
        return {key.rsplit(":", 1)[0] for key in keys}


@pytest.mark.postgres
def test_the_job_expires_ranges_of_members_side_by_side(
    bare_plan, make_tenant, make_member, app, db, monkeypatch
):
    monkeypatch.setitem(app.config, "PREMIA_EXPIRY_PARTS", 3)
    tenant, members = _many_due(make_tenant, make_member, db, 9)

    assert expiry.expire_month(tenant.id, utc(2026, 3, 1, 5, 30).isoformat()) == 9

    assert len(_run_keys(db, tenant)) == 3  # three transactions
    assert sorted(_expired(db, tenant)) == sorted((m.id, -10) for m in members)
    assert _runs(db, tenant) == [("2026-03", MARCH["America/Bogota"], 9)]
    with db(tenant) as session:
        assert all(ledger.audit_member(session, m.id) == (0, 0, 0) for m in members)


@pytest.mark.postgres
def test_a_job_that_dies_between_two_ranges_is_finished_by_its_retry(
    bare_plan, make_tenant, make_member, app, db, monkeypatch
):
    monkeypatch.setitem(app.config, "PREMIA_EXPIRY_PARTS", 2)
    tenant, members = _many_due(make_tenant, make_member, db, 6)
    now_iso = utc(2026, 3, 1, 5, 30).isoformat()
    real_expire_due = ledger.expire_due

    def dies_on_the_last_range(session, as_of, members_range=ledger.EVERY_MEMBER):
        if members_range[1] is None:
            raise RuntimeError("worker killed")
        return real_expire_due(session, as_of, members_range)

    monkeypatch.setattr(ledger, "expire_due", dies_on_the_last_range)
    with pytest.raises(RuntimeError):
        expiry.expire_month(tenant.id, now_iso)
    first_part = _expired(db, tenant)
    assert 0 < len(first_part) < 6  # the first range committed, the period is not done
    assert _runs(db, tenant) == []

    monkeypatch.setattr(ledger, "expire_due", real_expire_due)
    assert expiry.expire_month(tenant.id, now_iso) == 6 - len(first_part)
    assert sorted(_expired(db, tenant)) == sorted((m.id, -10) for m in members)
    assert [period for period, _as_of, _n in _runs(db, tenant)] == ["2026-03"]
    with db(tenant) as session:
        assert all(ledger.audit_member(session, m.id) == (0, 0, 0) for m in members)


# --- telling members -----------------------------------------------------


def _text(message):
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    raise AssertionError("no text part")


def test_members_with_points_expiring_this_month_are_told(
    make_tenant, make_member, db, smtp_server
):
    tenant = _shop(make_tenant, db)  # the free plan: notifications active
    march = MARCH["America/Bogota"]
    ana = make_member(tenant, email="ana@mail.example")
    _earn_lot_expiring(db, tenant, ana, 45, march + timedelta(days=14))
    _earn_lot_expiring(db, tenant, ana, 10, march + timedelta(days=19))
    _earn_lot_expiring(db, tenant, ana, 300, march + timedelta(days=40))  # April: not yet
    ben = make_member(tenant, email="ben@mail.example")
    _earn_lot_expiring(db, tenant, ben, 70, march - timedelta(days=3))  # expires now: not told
    _earn_lot_expiring(db, tenant, ben, 80, march + relativedelta(months=1) + MINUTE)
    smtp_server.handler.messages.clear()  # the welcome and points e-mails

    assert expiry.tick(utc(2026, 3, 1, 5, 30)) == [tenant.id]

    (message,) = smtp_server.handler.wait_for(1)
    assert message["To"] == "ana@mail.example"
    subject = str(make_header(decode_header(message["Subject"])))
    assert re.search(r"\b55\b", subject), subject
    assert re.search(r"\b55\b", _text(message)), _text(message)
    with db(tenant) as session:
        deliveries = [
            (d.recipient, d.template, d.key)
            for d in session.scalars(select(Delivery))
            if d.template == "points_expiring"
        ]
        assert deliveries == [
            ("ana@mail.example", "points_expiring", f"points_expiring:{ana.id}:2026-03")
        ]
        assert ledger.audit_member(session, ana.id) == (355, 355, 355)
        assert ledger.audit_member(session, ben.id) == (80, 80, 80)

    assert expiry.tick(utc(2026, 3, 2, 5, 30)) == []
    assert len(smtp_server.handler.messages) == 1  # told once


def test_members_are_not_told_when_the_merchant_turned_it_off(
    make_tenant, make_member, db, smtp_server
):
    tenant = _shop(make_tenant, db)
    with db(tenant) as session:
        save_settings(session, "notifications", NotificationSettings(), {"on_expiring": False})
        session.commit()
    ana = make_member(tenant, email="ana@mail.example")
    _earn_lot_expiring(db, tenant, ana, 45, MARCH["America/Bogota"] + timedelta(days=14))
    smtp_server.handler.messages.clear()

    assert expiry.tick(utc(2026, 3, 1, 5, 30)) == [tenant.id]
    assert smtp_server.handler.messages == []
    with db(tenant) as session:
        templates = session.scalars(select(Delivery.template)).all()
    assert sorted(templates) == ["points_received", "welcome"]  # no warning


def test_a_warning_job_run_again_tells_no_one_twice(make_tenant, make_member, db, smtp_server):
    tenant = _shop(make_tenant, db)
    ana = make_member(tenant, email="ana@mail.example")
    _earn_lot_expiring(db, tenant, ana, 45, MARCH["America/Bogota"] + timedelta(days=14))
    smtp_server.handler.messages.clear()
    assert expiry.tick(utc(2026, 3, 1, 5, 30)) == [tenant.id]
    smtp_server.handler.wait_for(1)

    assert expiry.warn_expiring(tenant.id, "2026-03", None, None) == 1  # rq retries a page

    assert len(smtp_server.handler.messages) == 1
    with db(tenant) as session:
        keys = session.scalars(
            select(Delivery.key).where(Delivery.template == "points_expiring")
        ).all()
    assert keys == [f"points_expiring:{ana.id}:2026-03"]


def test_warnings_lost_with_their_job_are_queued_by_the_tick(
    make_tenant, make_member, db, smtp_server, monkeypatch
):
    """The run committed, then its process died before queueing the warnings: the tick
    finds the run unwarned a quarter of an hour later and queues them, once."""
    tenant = _shop(make_tenant, db)
    ana = make_member(tenant, email="ana@mail.example")
    _earn_lot_expiring(db, tenant, ana, 45, MARCH["America/Bogota"] + timedelta(days=14))
    smtp_server.handler.messages.clear()
    now = utc(2026, 3, 1, 5, 30)
    real_enqueue = expiry.enqueue

    def dies_before_the_warnings(session, job, *args):
        if job is expiry.warn_month:
            return None  # the worker was killed right after the commit
        return real_enqueue(session, job, *args)

    monkeypatch.setattr(expiry, "enqueue", dies_before_the_warnings)
    with clock_at(now):
        assert expiry.tick(now) == [tenant.id]
    monkeypatch.setattr(expiry, "enqueue", real_enqueue)
    with db(tenant) as session:
        (run,) = session.scalars(select(ExpiryRun))
        assert (run.entries, run.warned_at) == (0, None)
    assert smtp_server.handler.messages == []

    assert expiry.tick(now + timedelta(minutes=5)) == []  # its job may still be on its way
    assert smtp_server.handler.messages == []
    with clock_at(now + timedelta(minutes=16)):
        assert expiry.tick(now + timedelta(minutes=16)) == []
    (message,) = smtp_server.handler.wait_for(1)
    assert message["To"] == "ana@mail.example"
    with db(tenant) as session:
        assert session.scalar(select(ExpiryRun.warned_at)) == now + timedelta(minutes=16)

    assert expiry.tick(now + timedelta(minutes=40)) == []
    assert expiry.warn_month(tenant.id, "2026-03") == 0  # a retried job: already warned
    assert len(smtp_server.handler.messages) == 1


def test_a_run_is_marked_warned_once_its_warnings_are_queued(
    bare_plan, make_tenant, make_member, db
):
    tenant, _member, _lots = _zone_shop(make_tenant, make_member, db, "America/Bogota")
    now = utc(2026, 3, 1, 5, 30)
    with clock_at(now):
        assert expiry.tick(now) == [tenant.id]
    with db(tenant) as session:
        assert session.scalar(select(ExpiryRun.warned_at)) == now  # no one listens: 0 pages


def test_points_expiring_at_the_next_midnight_do_not_silence_next_months_warning(
    make_tenant, make_member, db, smtp_server
):
    """A lot expiring at 00:00 on 1 April is March's (the April run takes it); the
    warning of April, about another lot, is a different message."""
    tenant = _shop(make_tenant, db)
    april = utc(2026, 4, 1, 5)  # midnight starting 1 April in Bogotá
    ana = make_member(tenant, email="ana@mail.example")
    _earn_lot_expiring(db, tenant, ana, 45, april)
    _earn_lot_expiring(db, tenant, ana, 60, april + timedelta(days=19))
    smtp_server.handler.messages.clear()

    assert expiry.tick(utc(2026, 3, 1, 5, 30)) == [tenant.id]
    (march_mail,) = smtp_server.handler.wait_for(1)
    assert expiry.tick(utc(2026, 4, 1, 5, 30)) == [tenant.id]
    (_march, april_mail) = smtp_server.handler.wait_for(2)

    assert re.search(r"\b45\b", _text(march_mail)) and "1 de abril" in _text(march_mail)
    assert re.search(r"\b60\b", _text(april_mail)) and "20 de abril" in _text(april_mail)
    with db(tenant) as session:
        keys = session.scalars(
            select(Delivery.key).where(Delivery.template == "points_expiring").order_by(Delivery.id)
        ).all()
    assert keys == [f"points_expiring:{ana.id}:2026-03", f"points_expiring:{ana.id}:2026-04"]


# --- warnings in pages ---------------------------------------------------


@pytest.fixture
def recorded(platform, monkeypatch):
    """Record the jobs queued (name, args) and the `notify` calls, in order."""
    recorder_plugin.calls.clear()
    jobs: list[tuple[str, tuple]] = []
    runner = platform.jobs
    real = runner.enqueue

    def enqueue(job, *args):
        jobs.append((job.__name__, args))
        return real(job, *args)

    monkeypatch.setattr(runner, "enqueue", enqueue)
    yield jobs
    recorder_plugin.calls.clear()


def _notified():
    return [
        (member_id, context)
        for _slug, (topic, member_id, context) in recorder_plugin.hooks("notify")
        if topic == "points_expiring"
    ]


def test_warnings_are_queued_in_pages_covering_every_member_id(
    make_plan, make_tenant, make_member, db, recorded, monkeypatch
):
    monkeypatch.setattr(expiry, "WARNING_PAGE", 2)
    make_plan("recording", {"recorder"})
    tenant = _shop(make_tenant, db, plan="recording")
    march, april = MARCH["America/Bogota"], utc(2026, 4, 1, 5)
    members = [make_member(tenant) for _ in range(6)]
    m1, m2, m3, m4, m5, m6 = (m.id for m in members)
    _earn_lot_expiring(db, tenant, members[0], 45, march + timedelta(days=14))
    _earn_lot_expiring(db, tenant, members[0], 10, march + timedelta(days=19))
    _earn_lot_expiring(db, tenant, members[0], 300, april + timedelta(days=9))  # April's
    _earn_lot_expiring(db, tenant, members[1], 80, april + MINUTE)  # April's: not told
    _earn_lot_expiring(db, tenant, members[2], 5, april - timedelta(hours=1))  # 31 Mar, 23:00
    _earn_lot_expiring(db, tenant, members[3], 7, april)  # taken by the April run: told now
    _earn_lot_expiring(db, tenant, members[4], 70, march)  # taken by this run: not told
    _earn_lot_expiring(db, tenant, members[5], 20, march + timedelta(days=1))
    recorded.clear()

    assert expiry.tick(utc(2026, 3, 1, 5, 30)) == [tenant.id]

    pages = [args for name, args in recorded if name == "warn_expiring"]
    # Told: m1, m3, m4, m6; pages of two start at m1 and m4, from and to nothing.
    assert pages == [(tenant.id, "2026-03", None, m4), (tenant.id, "2026-03", m4, None)]
    assert _notified() == [
        (m1, {"points": 55, "expires_at": "2026-03-15T00:00:00-05:00", "period": "2026-03"}),
        (m3, {"points": 5, "expires_at": "2026-03-31T23:00:00-05:00", "period": "2026-03"}),
        (m4, {"points": 7, "expires_at": "2026-04-01T00:00:00-05:00", "period": "2026-03"}),
        (m6, {"points": 20, "expires_at": "2026-03-02T00:00:00-05:00", "period": "2026-03"}),
    ]
    assert m2 not in dict(_notified()) and m5 not in dict(_notified())

    recorder_plugin.calls.clear()
    assert expiry.warn_expiring(tenant.id, "2026-03", m4, None) == 2  # one page, retried
    assert [member_id for member_id, _c in _notified()] == [m4, m6]


def test_no_warning_jobs_when_nothing_expires_or_no_one_listens(
    make_plan, make_tenant, make_member, db, recorded, bare_plan
):
    make_plan("recording", {"recorder"})
    quiet = _shop(make_tenant, db, plan="recording")
    _earn_lot_expiring(db, quiet, make_member(quiet), 30, utc(2026, 5, 1, 5))  # May
    deaf = _shop(make_tenant, db, plan="bare")  # no plugin hears `notify`
    _earn_lot_expiring(db, deaf, make_member(deaf), 30, MARCH["America/Bogota"] + MINUTE)
    recorded.clear()

    assert sorted(expiry.tick(utc(2026, 3, 1, 5, 30))) == sorted([quiet.id, deaf.id])

    # Each run's warn_month finds no page to queue: no warn_expiring job.
    assert sorted(name for name, _args in recorded) == [
        "expire_month",
        "expire_month",
        "warn_month",
        "warn_month",
    ]
    assert _notified() == []


# --- upcoming expiries ---------------------------------------------------


def test_upcoming_expiries_by_local_date_for_the_next_three_runs(
    make_tenant, make_member, db, bare_plan
):
    tenant = _shop(make_tenant, db, plan="bare")
    april, june = utc(2026, 4, 1, 5), utc(2026, 6, 1, 5)  # local midnights
    ana, ben = make_member(tenant), make_member(tenant)
    _earn_lot_expiring(db, tenant, ana, 10, utc(2026, 3, 5, 15))  # passed, not taken yet
    _earn_lot_expiring(db, tenant, ana, 40, utc(2026, 3, 20, 17))  # 20 March, 12:00
    _earn_lot_expiring(db, tenant, ana, 25, utc(2026, 3, 21, 4, 30))  # 20 March, 23:30 local
    _earn_lot_expiring(db, tenant, ana, 12, utc(2026, 3, 21, 6))  # 21 March, 01:00 local
    _earn_lot_expiring(db, tenant, ana, 30, april + timedelta(days=9))
    _earn_lot_expiring(db, tenant, ana, 8, june)  # the June run takes it
    _earn_lot_expiring(db, tenant, ana, 99, june + MINUTE)  # the July run's
    _earn_lot_expiring(db, tenant, ben, 500, utc(2026, 3, 20, 17))
    with clock_at(utc(2026, 3, 1)), db(tenant) as session:
        ledger.redeem(session, session.get(Membership, ana.id), points=4, actor=STAFF)
        update_program(session, {"expiry_months": None})
        session.commit()
    with clock_at(utc(2026, 3, 2)), db(tenant) as session:
        ledger.earn(session, session.get(Membership, ana.id), points=1000, actor=STAFF)
        session.commit()  # never expires

    with clock_at(utc(2026, 3, 10, 15)), db(tenant) as session:
        member = session.get(Membership, ana.id)
        assert expiry.upcoming_expiries(session, member) == [
            (date(2026, 3, 5), 6),  # 4 of its 10 were redeemed, soonest first
            (date(2026, 3, 20), 65),
            (date(2026, 3, 21), 12),
            (date(2026, 4, 10), 30),
            (date(2026, 6, 1), 8),
        ]
        assert expiry.upcoming_expiries(session, member, months=1) == [
            (date(2026, 3, 5), 6),
            (date(2026, 3, 20), 65),
            (date(2026, 3, 21), 12),
        ]
    # On 31 March at 23:59 in Bogotá it is still March; a minute later, April.
    with clock_at(april - MINUTE), db(tenant) as session:
        assert expiry.upcoming_expiries(session, session.get(Membership, ana.id), months=1)[-1] == (
            date(2026, 3, 21),
            12,
        )
    with clock_at(april), db(tenant) as session:
        assert expiry.upcoming_expiries(session, session.get(Membership, ana.id), months=1)[-1] == (
            date(2026, 4, 10),
            30,
        )


def test_the_warning_names_the_best_reward_the_member_can_afford(
    make_tenant, make_member, db, smtp_server
):
    tenant = _shop(make_tenant, db)
    march = MARCH["America/Bogota"]
    ana = make_member(tenant, email="ana@mail.example")
    _earn_lot_expiring(db, tenant, ana, 55, march + timedelta(days=14))
    _earn_lot_expiring(db, tenant, ana, 300, march + timedelta(days=40))
    with db(tenant) as session:
        for name, points, stock in [
            ("Café", 100, None),
            ("Almuerzo", 300, 0),  # affordable, but none left
            ("Postre", 250, 5),
            ("Cena", 400, None),  # more than the 355 points
        ]:
            create_reward(session, name=name, points=points, stock=stock)
        update_program(session, {"customer_redemption_requests": True})
        session.commit()
        assert expiry.best_reward_before_expiry(session, session.get(Membership, ana.id)).name == (
            "Postre"
        )
    smtp_server.handler.messages.clear()

    expiry.tick(utc(2026, 3, 1, 5, 30))

    (message,) = smtp_server.handler.wait_for(1)
    text = _text(message)
    assert "Con tus puntos ya puedes tener: Postre (250 puntos)." in text, text
    assert f"Pídelo en la app: http://localhost/t/{tenant.slug}/app/rewards/" in text, text


def test_without_requests_in_the_app_the_warning_names_the_reward_without_a_link(
    make_tenant, make_member, db, smtp_server
):
    tenant = _shop(make_tenant, db)
    ana = make_member(tenant, email="ana@mail.example")
    _earn_lot_expiring(db, tenant, ana, 120, MARCH["America/Bogota"] + timedelta(days=14))
    with db(tenant) as session:
        create_reward(session, name="Café", points=100)
        session.commit()
    smtp_server.handler.messages.clear()
    expiry.tick(utc(2026, 3, 1, 5, 30))
    (message,) = smtp_server.handler.wait_for(1)
    assert "Con tus puntos ya puedes tener: Café (100 puntos)." in _text(message)
    assert "/app/rewards/" not in _text(message)
