"""The daily birthday grant, at local midnight in each merchant's time zone.

Rules (the merchant's view):

* a member whose `Membership.birthday` falls on the tenant's local date gets
  the configured points (kind "birthday"), once per calendar year: the ledger
  entry's idempotency key is `system:birthday:<member>:<year>`, so running the
  job twice, a retried job or a birthday edited to a later date of the same
  year never pay twice;
* a 29 February birthday is celebrated on 28 February in non-leap years
  (it stays in the member's birth month);
* a member without a birthday gets nothing;
* switched off in the settings (`enabled: false`), the day is recorded as
  processed with nobody paid (switching it back on pays from the next day).

An hourly tick (`tick`) looks for tenants with the plugin active whose local
day has no `BirthdayRun` yet and queues one job each. The job selects only
that day's birthdays with `birthday IN (that month and day in each year of
the last 130)`, a sargable predicate on the member's date of birth (no loop
over all members, no dialect-specific date functions), then earns each of
them through the ledger. If the worker was down, the job catches up the days
missed since the tenant's last run (up to `CATCH_UP_DAYS`). A member who joins
on their birthday after that day's run is not paid that year.
"""

from __future__ import annotations

from calendar import isleap
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.sdk import (
    Actor,
    Entry,
    Membership,
    PlanPlugin,
    SystemKey,
    Tenant,
    TenantPlugin,
    current_platform,
    earn,
    enqueue,
    load_settings,
    platform_job,
    platform_session,
    system_key,
    tenant_job,
    utcnow,
)
from plugins.birthday.models import BirthdayRun
from plugins.birthday.settings import BirthdaySettings

KIND = "birthday"
MAX_AGE = 130  # years of birth looked at
CATCH_UP_DAYS = 7


def local_day(tenant: Tenant, now: datetime) -> date:
    """The tenant's calendar date at the instant `now` (aware)."""
    return now.astimezone(ZoneInfo(tenant.timezone)).date()


def birth_dates(day: date) -> list[date]:
    """The dates of birth celebrated on `day`: its month and day in each year of birth,
    plus 29 February on 28 February of a non-leap year."""
    dates = []
    for year in range(day.year - MAX_AGE, day.year + 1):
        if (day.month, day.day) == (2, 29) and not isleap(year):
            continue
        dates.append(day.replace(year=year))
        if (day.month, day.day) == (2, 28) and not isleap(day.year) and isleap(year):
            dates.append(date(year, 2, 29))
    return dates


def grant_key(member_id: int, year: int) -> SystemKey:
    return system_key(KIND, member_id, year)


@platform_job()
def tick(now: datetime | None = None) -> list[int]:
    """Queue the birthday job of every tenant whose local day is not processed yet."""
    now = now or utcnow()
    with platform_session(current_platform().sessions) as session:
        switched_off = exists().where(
            TenantPlugin.tenant_id == Tenant.id,
            TenantPlugin.plugin == KIND,
            TenantPlugin.enabled.is_(False),
        )
        tenants = session.scalars(
            select(Tenant)
            .join(PlanPlugin, and_(PlanPlugin.plan_id == Tenant.plan_id, PlanPlugin.plugin == KIND))
            .where(~switched_off)
            .order_by(Tenant.id)
        ).all()
        # Local dates differ from UTC's by at most a day: recent runs suffice.
        done = set(
            session.execute(
                select(BirthdayRun.tenant_id, BirthdayRun.day).where(
                    BirthdayRun.day >= (now - timedelta(days=2)).date()
                )
            )
        )
        due = [t.id for t in tenants if (t.id, local_day(t, now)) not in done]
    for tenant_id in due:  # queued once the session is closed: embedded, it runs here
        enqueue(None, grant_day, tenant_id, now.isoformat())
    return due


@tenant_job(queue="default", plugin=KIND)
def grant_day(session: Session, tenant: Tenant, now_iso: str) -> int:
    """Pay the birthdays of the tenant's local day at `now_iso` (and of missed days)."""
    today = local_day(tenant, datetime.fromisoformat(now_iso))
    last = session.scalar(select(func.max(BirthdayRun.day)))
    if last is not None and last >= today:
        return 0
    first = (
        today
        if last is None
        else max(last + timedelta(days=1), today - timedelta(days=CATCH_UP_DAYS - 1))
    )
    settings = load_settings(session, KIND, BirthdaySettings)
    paid = 0
    day = first
    while day <= today:
        granted = grant_birthdays(session, day, settings["points"]) if settings["enabled"] else 0
        session.add(BirthdayRun(day=day, granted=granted))
        paid += granted
        day += timedelta(days=1)
    try:
        session.flush()
    except IntegrityError:  # a twin job recorded these days first (and paid them)
        session.rollback()
        return 0
    return paid


def grant_birthdays(session: Session, day: date, points: int) -> int:
    """Earn `points` for every member celebrating on `day`; returns how many were paid now
    (a member already paid this year is not counted)."""
    member_ids = session.scalars(
        select(Membership.id)
        .where(Membership.birthday.in_(birth_dates(day)))
        .order_by(Membership.id)
    ).all()
    paid = 0
    for member_id in member_ids:  # only the day's birthdays, a few per thousand members
        key = grant_key(member_id, day.year)
        if session.scalar(select(Entry.id).where(Entry.idempotency_key == key)):
            continue
        member = session.get(Membership, member_id)
        earn(session, member, points=points, kind=KIND, actor=Actor.system(), idempotency_key=key)
        paid += 1
    return paid
