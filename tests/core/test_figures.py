"""Daily figures: closed local days rolled up once, today counted live, in the merchant's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import event, func, select

from core.host.actors import Actor
from core.host.db import clock_at
from core.loyalty import ledger, rewards
from core.loyalty.figures import DailyFigure, figures_between, roll_up, roll_up_all
from core.loyalty.members import Membership
from core.loyalty.program import update_program
from core.loyalty.staff import Role, StaffUser
from core.testing.factories import PASSWORD
from core.testing.weblogin import figures as page_figures
from core.testing.weblogin import post_login

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
    assert roll_up_all(now.isoformat()) == 1  # the 10th (the 11th had nothing)
    assert roll_up_all(now.isoformat()) == 0
    with db(shop) as session:
        tenant = session.get(type(shop), shop.id)
        days = figures_between(session, tenant, date(2026, 11, 10), date(2026, 11, 12), now)
        assert session.scalar(select(func.count()).select_from(DailyFigure)) == 1
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
