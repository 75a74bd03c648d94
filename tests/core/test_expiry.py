"""The monthly expiry, on the 1st at midnight in each tenant's own time zone."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select

from core import expiry, ledger
from core.actors import Actor
from core.db import clock_at
from core.expiry import ExpiryRun, month_start
from core.program import update_program
from core.settings import save_settings
from plugins.notifications.models import Delivery
from plugins.notifications.settings import NotificationSettings
from tenants.models import Tenant

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
    months = {zone: month_start(Tenant(timezone=zone), instant).strftime("%Y-%m")
              for zone in MARCH}
    assert months == {
        "Pacific/Auckland": "2026-03", "Asia/Tokyo": "2026-03", "America/Bogota": "2026-02",
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
        return [(r.period, r.as_of, r.entries)
                for r in session.scalars(select(ExpiryRun).order_by(ExpiryRun.period))]


def _lots(db, tenant):
    with db(tenant) as session:
        return {lot.entry_id: lot.remaining for lot in session.scalars(select(ledger.Lot))}


def _expired(db, tenant):
    with db(tenant) as session:
        return [(e.member_id, e.points) for e in session.scalars(
            select(ledger.Entry).where(ledger.Entry.kind == "expire").order_by(ledger.Entry.id))]


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
        "runs": ["2026-02", "2026-03"], "lots": EXPIRED}
    assert _processed(db, world, "Asia/Tokyo") == {"runs": ["2026-02"], "lots": UNTOUCHED}

    assert expiry.tick(MARCH["Asia/Tokyo"] - SECOND) == []
    assert expiry.tick(MARCH["Asia/Tokyo"]) == [tokyo]
    assert _processed(db, world, "Asia/Tokyo") == {"runs": ["2026-02", "2026-03"], "lots": EXPIRED}
    assert _processed(db, world, "America/Bogota") == {"runs": ["2026-02"], "lots": UNTOUCHED}

    assert expiry.tick(MARCH["America/Bogota"] - SECOND) == []  # 23:59:59 on 28 Feb in Bogotá
    assert expiry.tick(utc(2026, 3, 1, 5, 30)) == [bogota]  # 00:30 on 1 March in Bogotá
    assert _processed(db, world, "America/Bogota") == {
        "runs": ["2026-02", "2026-03"], "lots": EXPIRED}


def test_march_run_of_bogota_expires_what_was_due_by_its_midnight(world, db):
    tenant, member, lots = world["America/Bogota"]
    assert expiry.tick(utc(2026, 3, 1, 5, 30)) == [w[0].id for w in world.values()]

    assert _runs(db, tenant) == [("2026-03", MARCH["America/Bogota"], 1)]
    assert _expired(db, tenant) == [(member.id, -30)]
    with db(tenant) as session:
        (entry,) = session.scalars(select(ledger.Entry).where(ledger.Entry.kind == "expire"))
        allocations = {(a.lot_id, a.points) for a in session.scalars(
            select(ledger.Allocation).where(ledger.Allocation.entry_id == entry.id))}
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
        ("2026-03", MARCH["America/Bogota"]), ("2026-04", utc(2026, 4, 1, 5))]
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


# --- telling members -----------------------------------------------------


def _text(message):
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    raise AssertionError("no text part")


def test_members_with_points_expiring_this_month_are_told(make_tenant, make_member, db,
                                                          smtp_server):
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
        deliveries = [(d.recipient, d.template, d.key) for d in session.scalars(select(Delivery))
                      if d.template == "points_expiring"]
        assert deliveries == [("ana@mail.example", "points_expiring",
                               f"points_expiring:{ana.id}:2026-03")]
        assert ledger.audit_member(session, ana.id) == (355, 355, 355)
        assert ledger.audit_member(session, ben.id) == (80, 80, 80)

    assert expiry.tick(utc(2026, 3, 2, 5, 30)) == []
    assert len(smtp_server.handler.messages) == 1  # told once


def test_members_are_not_told_when_the_merchant_turned_it_off(make_tenant, make_member, db,
                                                              smtp_server):
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
