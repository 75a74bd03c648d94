"""Birthday points from the merchant's side: local midnight, once a year, 29 February."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select

from core.host.db import platform_session
from core.loyalty import ledger
from plugins.birthday import grants
from plugins.birthday.models import BirthdayRun
from tenants.models import Tenant


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def plan(make_plan):
    return make_plan("bday", {"birthday"})  # no e-mail plugin: nothing but the gift


@pytest.fixture
def shop(plan, make_tenant):
    return make_tenant(plan="bday", timezone="America/Bogota")


def balances(db, tenant, *members):
    with db(tenant) as session:
        return [ledger.audit_member(session, m.id)[0] for m in members]


def birthday_entries(db, tenant):
    with db(tenant) as session:
        return [
            (e.member_id, e.points, e.idempotency_key)
            for e in session.scalars(
                select(ledger.Entry)
                .where(ledger.Entry.kind == "birthday")
                .order_by(ledger.Entry.id)
            )
        ]


def runs(db, tenant):
    with db(tenant) as session:
        return [
            (r.day, r.granted)
            for r in session.scalars(select(BirthdayRun).order_by(BirthdayRun.day))
        ]


# --- which dates of birth a day celebrates ------------------------------------


def test_birth_dates_of_a_day():
    dates = grants.birth_dates(date(2026, 6, 15))
    assert len(dates) == 131  # 1896 … 2026
    assert dates[0] == date(1896, 6, 15) and dates[-1] == date(2026, 6, 15)
    assert {d.timetuple()[1:3] for d in dates} == {(6, 15)}


def test_29_february_is_celebrated_on_28_february_of_a_non_leap_year():
    feb28_2027 = grants.birth_dates(date(2027, 2, 28))
    assert date(2000, 2, 29) in feb28_2027 and date(2024, 2, 29) in feb28_2027
    assert date(1900, 2, 29 - 1) in feb28_2027  # 1900 was not a leap year: no 29th
    assert date(2000, 2, 29) not in grants.birth_dates(date(2027, 3, 1))
    # In a leap year the 29th exists: the 28th is only the 28th.
    assert date(2000, 2, 29) not in grants.birth_dates(date(2028, 2, 28))
    feb29_2028 = grants.birth_dates(date(2028, 2, 29))
    assert date(2000, 2, 29) in feb29_2028 and date(2001, 2, 28) not in feb29_2028
    assert all(d.year % 4 == 0 for d in feb29_2028)


# --- local midnight ----------------------------------------------------------------

# (zone, birthday, 23:30 the evening before in UTC, 00:30 on the day in UTC)
MIDNIGHTS = [
    # Bogotá, UTC-5 all year: 23:30 on 14 June is already 15 June in UTC.
    ("America/Bogota", date(1990, 6, 15), utc(2026, 6, 15, 4, 30), utc(2026, 6, 15, 5, 30)),
    # Madrid on the night after summer time began (29 March 2026, UTC+2).
    ("Europe/Madrid", date(1992, 3, 30), utc(2026, 3, 29, 21, 30), utc(2026, 3, 29, 22, 30)),
    # Madrid on the night after summer time ended (25 October 2026, UTC+1 again).
    ("Europe/Madrid", date(1975, 10, 26), utc(2026, 10, 25, 22, 30), utc(2026, 10, 25, 23, 30)),
]


@pytest.mark.parametrize(("zone", "birthday", "evening", "after_midnight"), MIDNIGHTS)
def test_paid_after_local_midnight_not_at_23_30(
    plan, make_tenant, make_member, db, zone, birthday, evening, after_midnight
):
    tenant = make_tenant(plan="bday", timezone=zone)
    member = make_member(tenant, birthday=birthday)
    assert grants.tick(evening) == [tenant.id]  # the eve is processed: not their day yet
    assert balances(db, tenant, member) == [0]
    assert grants.tick(after_midnight) == [tenant.id]
    assert balances(db, tenant, member) == [100]
    assert birthday_entries(db, tenant) == [(member.id, 100, f"system:birthday:{member.id}:2026")]
    day = birthday.replace(year=2026)
    assert runs(db, tenant) == [(day - timedelta(days=1), 0), (day, 1)]


def test_the_day_is_processed_once_and_paid_once(shop, make_member, db):
    member = make_member(shop, birthday=date(1990, 6, 15))
    assert grants.tick(utc(2026, 6, 15, 5, 30)) == [shop.id]
    assert grants.tick(utc(2026, 6, 15, 6, 30)) == []  # the next hour: nothing to do
    assert grants.tick(utc(2026, 6, 16, 4, 59)) == []  # 23:59 on the 15th in Bogotá
    # The job run again by hand (a retried worker) pays nothing either.
    assert grants.grant_day(shop.id, utc(2026, 6, 15, 5, 30).isoformat()) == 0
    # Even with the run forgotten, the ledger's key pays once per year.
    with db(shop) as session:
        session.execute(delete(BirthdayRun))
        session.commit()
        assert grants.grant_birthdays(session, date(2026, 6, 15), 100) == 0
    assert grants.grant_day(shop.id, utc(2026, 6, 15, 5, 30).isoformat()) == 0
    assert balances(db, shop, member) == [100]
    assert len(birthday_entries(db, shop)) == 1
    # Next year, again.
    assert grants.tick(utc(2027, 6, 15, 5, 0)) == [shop.id]
    assert balances(db, shop, member) == [200]
    assert [key for _m, _p, key in birthday_entries(db, shop)] == [
        f"system:birthday:{member.id}:2026",
        f"system:birthday:{member.id}:2027",
    ]


def test_only_the_days_birthdays_are_paid(shop, make_member, db):
    today = make_member(shop, birthday=date(2001, 6, 15))
    tomorrow = make_member(shop, birthday=date(2001, 6, 16))
    no_birthday = make_member(shop)
    assert grants.tick(utc(2026, 6, 15, 12)) == [shop.id]
    assert balances(db, shop, today, tomorrow, no_birthday) == [100, 0, 0]
    assert runs(db, shop) == [(date(2026, 6, 15), 1)]


def test_29_february_in_non_leap_and_leap_years(shop, make_member, db):
    leapling = make_member(shop, birthday=date(2000, 2, 29))
    feb28 = make_member(shop, birthday=date(1999, 2, 28))
    mar1 = make_member(shop, birthday=date(1999, 3, 1))
    grants.tick(utc(2027, 2, 27, 12))
    assert balances(db, shop, leapling, feb28, mar1) == [0, 0, 0]
    grants.tick(utc(2027, 2, 28, 5, 30))  # 00:30 on 28 February 2027 in Bogotá
    assert balances(db, shop, leapling, feb28, mar1) == [100, 100, 0]
    grants.tick(utc(2027, 3, 1, 5, 30))
    assert balances(db, shop, leapling, feb28, mar1) == [100, 100, 100]
    # 2028 is a leap year: the 28th is not the leapling's day, the 29th is.
    grants.tick(utc(2028, 2, 28, 12))
    assert balances(db, shop, leapling, feb28, mar1) == [100, 200, 100]
    grants.tick(utc(2028, 2, 29, 12))
    assert balances(db, shop, leapling, feb28, mar1) == [200, 200, 100]
    keys = {key for _m, _p, key in birthday_entries(db, shop) if f":{leapling.id}:" in key}
    assert keys == {f"system:birthday:{leapling.id}:2027", f"system:birthday:{leapling.id}:2028"}


def test_points_from_the_settings_and_switched_off(shop, make_member, db, platform):
    member = make_member(shop, birthday=date(1990, 6, 15))
    with db(shop) as session:
        platform.plugins.save_settings(session, "birthday", {"points": 250})
        session.commit()
    grants.tick(utc(2026, 6, 15, 12))
    assert balances(db, shop, member) == [250]
    with db(shop) as session:
        platform.plugins.save_settings(session, "birthday", {"enabled": False})
        session.commit()
    grants.tick(utc(2027, 6, 15, 12))
    assert balances(db, shop, member) == [250]
    # A year later the last week is caught up, each day recorded with nobody paid.
    assert runs(db, shop) == [(date(2026, 6, 15), 1)] + [
        (date(2027, 6, day), 0) for day in range(9, 16)
    ]
    assert grants.tick(utc(2027, 6, 15, 13)) == []  # recorded: not queued every hour


def test_missed_days_are_caught_up_within_a_week(shop, make_member, db):
    members = {day: make_member(shop, birthday=date(1990, 6, day)) for day in (9, 11, 12, 13)}
    grants.tick(utc(2026, 6, 10, 12))
    # The worker is down on the 11th and 12th; on the 13th it pays those days too.
    grants.tick(utc(2026, 6, 13, 12))
    assert balances(db, shop, *members.values()) == [0, 100, 100, 100]
    assert runs(db, shop) == [
        (date(2026, 6, day), n) for day, n in ((10, 0), (11, 1), (12, 1), (13, 1))
    ]
    # Down for three weeks: only the last 7 days are caught up.
    late = make_member(shop, birthday=date(1990, 6, 20))
    recent = make_member(shop, birthday=date(1990, 6, 28))
    grants.tick(utc(2026, 7, 4, 12))
    assert balances(db, shop, late, recent) == [0, 100]
    assert runs(db, shop)[-1] == (date(2026, 7, 4), 0) and len(runs(db, shop)) == 4 + 7


def test_tenants_without_the_plugin_are_not_queued(plan, make_tenant, make_member, db, platform):
    on = make_tenant(plan="bday")
    free = make_tenant(plan="free")
    switched_off = make_tenant(plan="bday")
    with db(switched_off) as session:
        platform.plugins.switch(session, session.get(Tenant, switched_off.id), "birthday", False)
        session.commit()
    members = [make_member(t, birthday=date(1990, 6, 15)) for t in (on, free, switched_off)]
    assert grants.tick(utc(2026, 6, 15, 12)) == [on.id]
    assert [
        balances(db, t, m)[0] for t, m in zip((on, free, switched_off), members, strict=True)
    ] == [100, 0, 0]
    with platform_session(platform.sessions) as session:
        assert session.scalar(select(func.count()).select_from(BirthdayRun)) == 1


def test_white_label_plan_has_it(make_tenant, make_member, db):
    tenant = make_tenant(plan="white-label", timezone="Europe/Madrid")
    member = make_member(tenant, birthday=date(1990, 6, 15))
    assert tenant.id in grants.tick(utc(2026, 6, 14, 22, 30))  # 00:30 in Madrid (UTC+2)
    with db(tenant) as session:
        (entry,) = ledger.history(session, session.get(type(member), member.id))[:1]
        assert (entry.kind, entry.points, entry.actor_kind) == ("birthday", 100, "system")
        assert ledger.audit_member(session, member.id) == (100, 100, 100)
