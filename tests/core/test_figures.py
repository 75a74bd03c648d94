"""Daily figures: closed local days rolled up once, today counted live, in the merchant's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, event, func, select, update

from core.host.actors import Actor
from core.host.db import clock_at
from core.loyalty import ledger, rewards
from core.loyalty.figures import (
    GRACE,
    DailyFigure,
    Day,
    OpenDayFigures,
    _dates,
    audit,
    count_days,
    figures_between,
    local_today,
    roll_up,
    roll_up_all,
)
from core.loyalty.figures import audit_all as figures_audit_all
from core.loyalty.members import Membership
from core.loyalty.program import update_program
from core.loyalty.staff import Role, StaffUser
from core.testing.factories import PASSWORD
from core.testing.weblogin import figures as page_figures
from core.testing.weblogin import post_login
from tests.concurrency import finished_while_held

STAFF = Actor.staff(1)


@pytest.fixture
def shop(make_tenant):
    return make_tenant(timezone="America/Bogota")  # UTC−5, no DST


def _at(iso: str):
    return clock_at(datetime.fromisoformat(iso).replace(tzinfo=UTC))


def _earn(db, shop, member_id, points, when):
    with _at(when), db(shop) as session:
        ledger.earn(session, session.get(Membership, member_id), points=points, actor=STAFF)
        session.commit()


def test_entries_count_on_the_merchants_local_day(shop, make_member, db):
    with _at("2026-11-10T12:00:00"):
        member = make_member(shop)
    _earn(db, shop, member.id, 10, "2026-11-11T04:30:00")  # 23:30 on the 10th in Bogotá
    _earn(db, shop, member.id, 20, "2026-11-11T05:30:00")  # 00:30 on the 11th
    with db(shop) as session:
        tenant = session.get(type(shop), shop.id)
        stored = roll_up(session, tenant, datetime(2026, 11, 12, 12, tzinfo=UTC))
        session.commit()
        rows = {r.day: (r.members, r.issued) for r in session.scalars(select(DailyFigure))}
    assert stored == 2
    assert rows == {date(2026, 11, 10): (1, 10), date(2026, 11, 11): (0, 20)}


def test_roll_up_stores_each_closed_day_once_and_never_today(shop, make_member, db):
    with _at("2026-11-10T15:00:00"):
        member = make_member(shop)
    _earn(db, shop, member.id, 7, "2026-11-10T16:00:00")
    _earn(db, shop, member.id, 9, "2026-11-12T16:00:00")  # "today" below
    now = datetime(2026, 11, 12, 18, tzinfo=UTC)
    assert roll_up_all(now.isoformat()) == 2  # the 10th, and the 11th (nothing: zeros)
    assert roll_up_all(now.isoformat()) == 0
    with db(shop) as session:
        tenant = session.get(type(shop), shop.id)
        days = figures_between(session, tenant, date(2026, 11, 10), date(2026, 11, 12), now)
        assert session.scalar(select(func.count()).select_from(DailyFigure)) == 2
    assert [(d.day.day, d.issued, d.members) for d in days] == [(10, 7, 1), (11, 0, 0), (12, 9, 0)]


def test_a_cancelled_request_is_neither_issued_nor_redeemed(shop, make_member, db):
    with _at("2026-11-10T15:00:00"):
        member = make_member(shop)
    _earn(db, shop, member.id, 100, "2026-11-10T16:00:00")
    with _at("2026-11-10T17:00:00"), db(shop) as session:
        reward = rewards.create_reward(session, name="Café", points=30)
        update_program(session, {"customer_redemption_requests": True})
        held = rewards.request_reward(session, session.get(Membership, member.id), reward)
        rewards.cancel(session, held, actor=STAFF)
        rewards.redeem_reward(session, session.get(Membership, member.id), reward, actor=STAFF)
        session.commit()
    now = datetime(2026, 11, 11, 18, tzinfo=UTC)
    with db(shop) as session:
        tenant = session.get(type(shop), shop.id)
        live = figures_between(session, tenant, date(2026, 11, 10), date(2026, 11, 10), now)[0]
        roll_up(session, tenant, now)
        session.commit()
        stored = figures_between(session, tenant, date(2026, 11, 10), date(2026, 11, 10), now)[0]
    for day in (live, stored):
        assert (day.issued, day.redeemed, day.redemptions) == (100, 30, 1)


def test_figures_are_the_tenants_own(shop, make_tenant, make_member, db):
    other = make_tenant()
    with _at("2026-11-10T15:00:00"):
        mine, theirs = make_member(shop), make_member(other)
    _earn(db, shop, mine.id, 5, "2026-11-10T16:00:00")
    _earn(db, other, theirs.id, 500, "2026-11-10T16:00:00")
    roll_up_all(datetime(2026, 11, 12, tzinfo=UTC).isoformat())
    with db(shop) as session:
        assert session.scalars(select(DailyFigure.issued)).all() == [5]


def _login(client, shop, db):
    with db(shop) as session:
        email = session.scalars(select(StaffUser.email).where(StaffUser.role == Role.OWNER)).one()
    post_login(client, shop.slug, email, PASSWORD)


def test_dashboard_shows_the_chosen_range(client, shop, make_member, db):
    with _at("2026-11-10T15:00:00"):
        member = make_member(shop)
    _earn(db, shop, member.id, 40, "2026-11-10T16:00:00")
    _earn(db, shop, member.id, 2, "2026-11-11T16:00:00")
    _login(client, shop, db)
    page = client.get(f"/t/{shop.slug}/panel/?since=2026-11-10&until=2026-11-10")
    text = page.get_data(as_text=True)
    assert page_figures(text)["Puntos otorgados"] == "40"
    core_charts = text.split('<div class="charts">', 1)[1].split("</div>\n", 1)[0]
    assert core_charts.count("<rect ") == 4  # one bar per chart for one day (plugins' after)
    wide = client.get(f"/t/{shop.slug}/panel/?since=2026-11-10&until=2026-11-11")
    assert page_figures(wide.get_data(as_text=True))["Puntos otorgados"] == "42"
    bad = client.get(f"/t/{shop.slug}/panel/?since=ayer")
    assert bad.status_code == 200 and "año-mes-día" in bad.get_data(as_text=True)


def test_dashboard_queries_do_not_grow_with_the_data(client, shop, make_member, db, platform):
    _login(client, shop, db)
    members = [make_member(shop) for _ in range(3)]

    def statements() -> int:
        seen = []
        listener = lambda *args: seen.append(1)  # noqa: E731
        event.listen(platform.engine, "before_cursor_execute", listener)
        try:
            assert client.get(f"/t/{shop.slug}/panel/").status_code == 200
        finally:
            event.remove(platform.engine, "before_cursor_execute", listener)
        return len(seen)

    for member in members:
        with db(shop) as session:
            ledger.earn(session, session.get(Membership, member.id), points=1, actor=STAFF)
            session.commit()
    few = statements()
    for _ in range(10):
        for member in members + [make_member(shop) for _ in range(2)]:
            with db(shop) as session:
                ledger.earn(session, session.get(Membership, member.id), points=1, actor=STAFF)
                session.commit()
    assert statements() == few


def _stored(db, shop) -> dict:
    with db(shop) as session:
        return {r.day: r.issued for r in session.scalars(select(DailyFigure))}


def test_quiet_days_are_stored_as_zeros_and_read_back_not_counted(shop, make_member, db):
    with _at("2026-11-10T15:00:00"):
        member = make_member(shop)
    _earn(db, shop, member.id, 7, "2026-11-10T16:00:00")
    _earn(db, shop, member.id, 9, "2026-11-12T16:00:00")  # the 11th and 13th are quiet
    _earn(db, shop, member.id, 4, "2026-11-14T16:00:00")  # "today" below
    now = datetime(2026, 11, 14, 18, tzinfo=UTC)
    assert roll_up_all(now.isoformat()) == 4
    assert _stored(db, shop) == {
        date(2026, 11, d): p for d, p in ((10, 7), (11, 0), (12, 9), (13, 0))
    }
    with db(shop) as session:
        # A stored day is read back, not counted again: a tampered row shows as stored.
        session.execute(
            update(DailyFigure).where(DailyFigure.day == date(2026, 11, 12)).values(issued=90)
        )
        # A roll-up of before the zeros skipped quiet days: a gap inside the span is zero.
        session.execute(delete(DailyFigure).where(DailyFigure.day == date(2026, 11, 11)))
        session.commit()
        tenant = session.get(type(shop), shop.id)
        days = figures_between(session, tenant, date(2026, 11, 8), date(2026, 11, 14), now)
    assert [d.issued for d in days] == [0, 0, 7, 0, 90, 0, 4]


def test_a_day_is_rolled_up_once_its_grace_is_over(shop, make_member, db):
    with _at("2026-11-10T15:00:00"):
        member = make_member(shop)
    _earn(db, shop, member.id, 7, "2026-11-10T16:00:00")
    midnight = datetime(2026, 11, 11, 5, tzinfo=UTC)  # the 10th closes in Bogotá
    # Flushed at 23:59:59 on the 10th, committed after midnight: still the 10th's.
    assert roll_up_all((midnight + GRACE - timedelta(seconds=1)).isoformat()) == 0
    _earn(db, shop, member.id, 5, "2026-11-11T04:59:59")
    assert roll_up_all((midnight + GRACE).isoformat()) == 1
    assert _stored(db, shop) == {date(2026, 11, 10): 12}


def test_the_job_catches_up_with_the_days_it_missed(shop, make_member, db):
    with _at("2026-11-01T15:00:00"):
        member = make_member(shop)
    for day in (1, 3, 9):
        _earn(db, shop, member.id, day, f"2026-11-{day:02}T16:00:00")
    assert roll_up_all(datetime(2026, 11, 2, 12, tzinfo=UTC).isoformat()) == 1
    # Down for a week: the next run stores every day since.
    assert roll_up_all(datetime(2026, 11, 10, 12, tzinfo=UTC).isoformat()) == 8
    stored = _stored(db, shop)
    assert sorted(stored) == [date(2026, 11, d) for d in range(1, 10)]
    assert {d.day: p for d, p in stored.items() if p} == {1: 1, 3: 3, 9: 9}


def test_the_audit_repairs_a_day_that_drifted(shop, make_member, db, caplog):
    with _at("2026-11-01T15:00:00"):
        member = make_member(shop)
    for day in range(1, 10):
        _earn(db, shop, member.id, day, f"2026-11-{day:02}T16:00:00")
    roll_up_all(datetime(2026, 11, 10, 12, tzinfo=UTC).isoformat())
    assert figures_audit_all() == 0
    with db(shop) as session:
        session.execute(
            update(DailyFigure).where(DailyFigure.day == date(2026, 11, 9)).values(issued=1)
        )
        session.execute(
            update(DailyFigure).where(DailyFigure.day == date(2026, 11, 4)).values(members=3)
        )
        session.commit()
    # The last stored day is always recounted; the others by sample (here all of them).
    with db(shop) as session:
        tenant = session.get(type(shop), shop.id)
        drifts = audit(session, tenant, sample=len(range(1, 10)))
        session.commit()
    assert [(s.day.day, s.issued, c.issued, s.members, c.members) for s, c in drifts] == [
        (4, 4, 4, 3, 0),
        (9, 1, 9, 0, 0),
    ]
    assert _stored(db, shop)[date(2026, 11, 9)] == 9
    with db(shop) as session:
        session.execute(
            update(DailyFigure).where(DailyFigure.day == date(2026, 11, 9)).values(issued=2)
        )
        session.commit()
    assert figures_audit_all() == 1
    assert "daily figures of tenant" in caplog.text and "repaired" in caplog.text
    assert figures_audit_all() == 0


# The roll-up path against the full count, over random ledgers: entries at random
# moments of a week (midnights included), the job run at two random moments in between
# (closed days stored, the open day counted, entries after it), every range of the week
# compared day by day.
MOMENTS = st.integers(min_value=0, max_value=7 * 24 * 60 - 1)  # minutes from the start
OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["join", "earn", "earn", "redeem", "adjust", "refund", "request"]),
        st.integers(min_value=0, max_value=2),  # which member
        st.integers(min_value=1, max_value=60),  # points
        MOMENTS,
    ),
    min_size=1,
    max_size=25,
)
WEEK = datetime(2026, 11, 9, 3, 30, tzinfo=UTC)  # 22:30 on the 8th in Bogotá


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operations=OPERATIONS, first_run=MOMENTS, last_run=MOMENTS)
def test_the_rolled_up_figures_equal_the_full_count(
    make_tenant, make_member, db, operations, first_run, last_run
):
    shop = make_tenant(timezone="America/Bogota")
    with clock_at(WEEK - timedelta(days=1)):
        members = [make_member(shop) for _ in range(3)]
        with db(shop) as session:
            reward = rewards.create_reward(session, name="Café", points=5)
            update_program(session, {"customer_redemption_requests": True})
            session.commit()
    # The job runs twice, between the entries; the page reads after the last entry.
    runs = sorted(WEEK + timedelta(minutes=m) for m in (first_run, last_run))
    for kind, which, points, minute in sorted(operations, key=lambda o: o[3]):
        moment = WEEK + timedelta(minutes=minute)
        while runs and moment >= runs[0]:
            roll_up_all(runs.pop(0).isoformat())
        with clock_at(moment), db(shop) as session:
            if kind == "join":
                make_member(shop)
                continue
            member = session.get(Membership, members[which].id)
            if kind == "earn":
                ledger.earn(session, member, points=points, actor=STAFF)
            elif kind == "adjust":
                ledger.adjust(session, member, points=-min(points, member.balance) or points,
                              actor=STAFF, description="x")  # fmt: skip
            elif member.balance < 5:
                continue
            elif kind == "redeem":
                rewards.redeem_reward(session, member, reward, actor=STAFF)
            elif kind == "request":  # a request, cancelled: its refund undoes the redemption
                rewards.cancel(
                    session, rewards.request_reward(session, member, reward), actor=STAFF
                )
            else:
                debit = ledger.redeem(session, member, min(points, member.balance), actor=STAFF)
                ledger.refund(session, debit, actor=STAFF)
            session.commit()
    end = WEEK + timedelta(days=7)
    with db(shop) as session:
        tenant = session.get(type(shop), shop.id)
        first, last = date(2026, 11, 7), local_today(tenant, end)
        counted = count_days(session, tenant, first, last + timedelta(days=1))
        for since in _dates(first, last):
            for until in _dates(since, last):
                read = figures_between(session, tenant, since, until, end)
                assert read == [counted.get(d, Day(d)) for d in _dates(since, until)]


def test_the_open_day_is_counted_by_the_job_and_only_the_rest_live(shop, make_member, db):
    with _at("2026-11-10T12:00:00"):
        member = make_member(shop)
    _earn(db, shop, member.id, 7, "2026-11-10T13:00:00")  # 08:00 in Bogotá
    _earn(db, shop, member.id, 9, "2026-11-10T15:00:00")
    roll_up_all(datetime(2026, 11, 10, 16, tzinfo=UTC).isoformat())  # through 15:45 UTC
    _earn(db, shop, member.id, 4, "2026-11-10T16:30:00")
    with db(shop) as session:
        row = session.scalars(select(OpenDayFigures)).one()
        assert (row.day, row.issued, row.members) == (date(2026, 11, 10), 16, 1)
        # The open day's figures are read back, not counted again: a tampered row shows.
        row.issued = 100
        session.commit()
        tenant = session.get(type(shop), shop.id)
        now = datetime(2026, 11, 10, 17, tzinfo=UTC)
        (day,) = figures_between(session, tenant, date(2026, 11, 10), date(2026, 11, 10), now)
        assert (day.issued, day.members) == (104, 1)
    # The next run adds from where it stopped; once the day is over, it is counted whole.
    _earn(db, shop, member.id, 2, "2026-11-11T02:00:00")
    assert roll_up_all(datetime(2026, 11, 11, 3, tzinfo=UTC).isoformat()) == 0
    with db(shop) as session:
        assert session.scalars(select(OpenDayFigures.issued)).one() == 106
    _earn(db, shop, member.id, 1, "2026-11-11T06:00:00")  # the 11th
    assert roll_up_all(datetime(2026, 11, 11, 7, tzinfo=UTC).isoformat()) == 1
    assert _stored(db, shop) == {date(2026, 11, 10): 22}
    with db(shop) as session:
        row = session.scalars(select(OpenDayFigures)).one()
        assert (row.day, row.issued, row.members) == (date(2026, 11, 11), 1, 0)
        tenant = session.get(type(shop), shop.id)
        now = datetime(2026, 11, 11, 8, tzinfo=UTC)
        days = figures_between(session, tenant, date(2026, 11, 9), date(2026, 11, 11), now)
    assert [d.issued for d in days] == [0, 22, 1]


@pytest.mark.postgres
def test_a_roll_up_under_way_holds_up_no_sale(app, shop, make_member, db):
    """The roll-up locks the merchant's row (one run per merchant at a time) for its whole
    transaction, which can last long (the first one after an import of years). Rows a
    sale writes that refer to the merchant (its outbox row) check that reference with a
    key-share lock on the same row: a lock that conflicts with it (FOR UPDATE did) had
    every sale of the merchant wait for the roll-up to end."""
    member = make_member(shop)

    def sell() -> None:
        with db(shop) as session:
            ledger.earn(session, session.get(Membership, member.id), points=5, actor=STAFF)
            session.commit()  # the outbox row, which refers to the merchant

    with db(shop) as rolling:
        roll_up(rolling, rolling.get(type(shop), shop.id))  # its transaction stays open
        assert finished_while_held(app, rolling, sell), "the sale waited for the roll-up"
    with db(shop) as session:
        assert session.get(Membership, member.id).balance == 5
