"""The program's figures per day, for the dashboard: kept per closed local day.

Once a merchant's local day is over its figures never change (entries are
written at the time they happen), so an hourly job rolls each closed day up
into one `daily_figures` row per tenant and day, and the dashboard reads those
rows plus a live count of today only: its cost does not grow with the ledger.
On PostgreSQL the roll-up is one grouped statement per tenant over the new
entries (by the (tenant_id, created_at) index), days in the tenant's time zone.

Every closed day from the merchant's first activity on gets a row, a quiet one
zeros: the stored days are one unbroken span, so a range's days outside it (the
days not rolled up yet, the days before the first activity) are the only ones
counted live, and a day without a row inside it had nothing (roll-ups before the
zeros were stored skipped quiet days). The job catches up with every day missed
while it did not run. It also counts the day not closed yet up to GRACE before it
runs (`open_day_figures`, added to from where it stopped), so the page counts live
only the entries of the last hour or so: today is a merchant's busiest read. An
hourly audit recounts the last stored day and a sample of others from the ledger
and repairs a row that differs (a late commit, a bug).
"""

from __future__ import annotations

import functools
import logging
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    CompoundSelect,
    Date,
    Index,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column

from core.host.db import (
    Base,
    TenantOwned,
    UTCDateTime,
    platform_session,
    tenant_session,
    utcnow,
)
from core.host.platform import current_platform
from core.loyalty.ledger import Entry, Kind
from core.loyalty.members import Membership
from tenants.models import Tenant
from worker.jobs import platform_job

log = logging.getLogger(__name__)

FIELDS = ("members", "issued", "redeemed", "redemptions", "expired")
# Rows are stamped when they are flushed and committed a moment later: a transaction
# flushed just before midnight may commit after it. A day is rolled up only once it
# has been over this long, so such a row is counted (the audit re-checks the day).
GRACE = timedelta(minutes=15)
AUDITED_DAYS = 7  # days recounted per merchant by each audit: the last one and a sample


class DailyFigure(TenantOwned, Base):
    __tablename__ = "daily_figures"
    __table_args__ = (
        UniqueConstraint("tenant_id", "day"),
        Index("ix_daily_figures_tenant_id_day", "tenant_id", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)  # the merchant's local date
    members: Mapped[int] = mapped_column(default=0)  # customers who joined
    issued: Mapped[int] = mapped_column(default=0)  # points credited (refunds aside)
    redeemed: Mapped[int] = mapped_column(default=0)  # points taken by redemptions
    redemptions: Mapped[int] = mapped_column(default=0)
    expired: Mapped[int] = mapped_column(default=0)


class OpenDayFigures(TenantOwned, Base):
    """The merchant's day not closed yet as the hourly job counted it: the entries and
    joins before `through` (GRACE before the job ran). One row per merchant."""

    __tablename__ = "open_day_figures"
    __table_args__ = (PrimaryKeyConstraint("tenant_id"),)

    day: Mapped[date] = mapped_column(Date)  # the merchant's local date
    through: Mapped[datetime] = mapped_column()
    members: Mapped[int] = mapped_column(default=0)
    issued: Mapped[int] = mapped_column(default=0)
    redeemed: Mapped[int] = mapped_column(default=0)
    redemptions: Mapped[int] = mapped_column(default=0)
    expired: Mapped[int] = mapped_column(default=0)


@dataclass
class Day:
    day: date
    members: int = 0
    issued: int = 0
    redeemed: int = 0
    redemptions: int = 0
    expired: int = 0

    def __add__(self, other: Day) -> Day:
        return Day(self.day, *(getattr(self, f) + getattr(other, f) for f in FIELDS))


def local_midnight(tenant: Tenant, day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tenant.timezone))


def local_today(tenant: Tenant, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(ZoneInfo(tenant.timezone)).date()


def count_days(session: Session, tenant: Tenant, since: date, until: date) -> dict[date, Day]:
    """Figures of the local days in [since, until) counted from the ledger itself."""
    return count_between(
        session, tenant, local_midnight(tenant, since), local_midnight(tenant, until)
    )


@functools.cache
def _counting_statement() -> CompoundSelect:
    """PostgreSQL's count of [start, end) by local day (`zone`), one row per day and
    part: the entries' figures (joins 0), then the joins (the rest 0). One statement,
    built once per process (at the first count: `aliased` configures the mappers, which
    must all be imported by then): a statement built per call is also scoped to the
    tenant and keyed for SQLAlchemy's cache per call (`core.host.db._scoped`), which was
    most of the Python time of a page counting live (~2.7 ms a count)."""
    start, end = bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime())
    zone = bindparam("zone", type_=String())
    # A cancelled request's refund gives back what its redemption took: it undoes
    # the redemption rather than issuing points.
    reversed_ = aliased(Entry)
    # Only a refund looks its reversed entry up (a CASE runs its subquery only when the
    # branch is taken): a join would probe the index once per entry counted.
    reversed_kind = case(
        (
            Entry.kind == Kind.REFUND,
            select(reversed_.kind)
            .where(reversed_.tenant_id == Entry.tenant_id, reversed_.id == Entry.reverses_id)
            .scalar_subquery(),
        )
    )
    undoes_redemption = and_(Entry.kind == Kind.REFUND, reversed_kind == Kind.REDEEM)
    issued = func.sum(case((Entry.points > 0, Entry.points), else_=0)).filter(
        Entry.kind != Kind.REFUND
    )
    redeemed = func.sum(-Entry.points).filter(or_(Entry.kind == Kind.REDEEM, undoes_redemption))
    redemptions = func.sum(case((Entry.kind == Kind.REDEEM, 1), (undoes_redemption, -1), else_=0))
    expired = func.sum(-Entry.points).filter(Entry.kind == Kind.EXPIRE)
    local_day = func.date(func.timezone(zone, Entry.created_at))
    zero = literal(0, BigInteger())
    entries = (
        select(local_day, zero, issued, redeemed, redemptions, expired)
        .where(Entry.created_at >= start, Entry.created_at < end)
        .group_by(local_day)
    )
    joined_day = func.date(func.timezone(zone, Membership.created_at))
    joins = (
        select(joined_day, func.count(Membership.id), zero, zero, zero, zero)
        .where(Membership.created_at >= start, Membership.created_at < end)
        .group_by(joined_day)
    )
    return union_all(entries, joins)


_FIELD_COLUMNS = [getattr(DailyFigure, f) for f in FIELDS]
# The page's reads of stored figures, built once (see _counting_statement).
_SPAN = select(func.min(DailyFigure.day), func.max(DailyFigure.day))
_STORED = select(DailyFigure.day, *_FIELD_COLUMNS).where(
    DailyFigure.day >= bindparam("since", type_=Date()),
    DailyFigure.day <= bindparam("until", type_=Date()),
)
_OPEN_DAY = select(OpenDayFigures.day, OpenDayFigures.through, *(
    getattr(OpenDayFigures, f) for f in FIELDS
))  # fmt: skip


def count_between(
    session: Session, tenant: Tenant, start: datetime, end: datetime
) -> dict[date, Day]:
    """Figures of what was written in [start, end), by local day, counted from the ledger."""
    days: dict[date, Day] = {}
    if session.get_bind().dialect.name == "postgresql":
        params = {"start": start, "end": end, "zone": tenant.timezone}
        for day, *values in session.execute(_counting_statement(), params):
            counted = Day(day, *(int(v or 0) for v in values))
            days[day] = days[day] + counted if day in days else counted
        return days
    # SQLite (the embedded default, small data): group by local day here.
    reversed_ = aliased(Entry)
    zone = ZoneInfo(tenant.timezone)
    for created_at, kind, points, reversed_kind in session.execute(
        select(Entry.created_at, Entry.kind, Entry.points, reversed_.kind)
        .outerjoin(reversed_, reversed_.id == Entry.reverses_id)
        .where(Entry.created_at >= start, Entry.created_at < end)
    ):
        day = days.setdefault(
            created_at.astimezone(zone).date(), Day(created_at.astimezone(zone).date())
        )
        if points > 0 and kind != Kind.REFUND:
            day.issued += points
        if kind == Kind.REDEEM:
            day.redeemed -= points
            day.redemptions += 1
        if kind == Kind.REFUND and reversed_kind == Kind.REDEEM:
            day.redeemed -= points
            day.redemptions -= 1
        if kind == Kind.EXPIRE:
            day.expired -= points
    for (created_at,) in session.execute(
        select(Membership.created_at).where(
            Membership.created_at >= start, Membership.created_at < end
        )
    ):
        local = created_at.astimezone(zone).date()
        days.setdefault(local, Day(local)).members += 1
    return days


def closed_before(tenant: Tenant, now: datetime | None = None) -> date:
    """The first local day the roll-up may not store yet: today, or yesterday during the
    GRACE after midnight."""
    return local_today(tenant, (now or utcnow()) - GRACE)


def stored_span(session: Session) -> tuple[date | None, date | None]:
    """The first and last days stored for the session's merchant (two index probes)."""
    first, last = session.execute(_SPAN).one()
    return first, last


def roll_up(session: Session, tenant: Tenant, now: datetime | None = None) -> int:
    """Store the figures of every closed local day not stored yet, quiet days as zeros,
    and count the open day up to GRACE ago; returns how many closed days were stored."""
    now = now or utcnow()
    closed = closed_before(tenant, now)
    # One roll-up of a tenant at a time (the hourly job and a manual run may meet). FOR
    # NO KEY UPDATE, not FOR UPDATE: a sale's rows that refer to the merchant (its
    # outbox row) check it with a key-share lock, which FOR UPDATE would hold up until
    # this transaction ends, and with it every sale of the merchant.
    session.execute(select(Tenant.id).where(Tenant.id == tenant.id).with_for_update(key_share=True))
    last = session.scalar(select(func.max(DailyFigure.day)))
    if last is None:
        first = session.scalar(select(func.min(Entry.created_at)))
        joined = session.scalar(select(func.min(Membership.created_at)))
        starts = [moment for moment in (first, joined) if moment is not None]
        if not starts:
            return 0
        since = min(starts).astimezone(ZoneInfo(tenant.timezone)).date()
    else:
        since = last + timedelta(days=1)
    days = _dates(since, closed - timedelta(days=1))
    if days:
        counted = count_days(session, tenant, since, closed)
        session.add_all(_row(counted.get(day, Day(day))) for day in days)
    count_open_day(session, tenant, now)
    session.flush()
    return len(days)


def count_open_day(session: Session, tenant: Tenant, now: datetime | None = None) -> None:
    """Count the day not closed yet up to GRACE ago into `open_day_figures`: from where
    the last count stopped when it was the same day, from its midnight otherwise."""
    through = (now or utcnow()) - GRACE
    day = local_today(tenant, through)
    row = session.scalar(select(OpenDayFigures))
    if row is not None and row.day == day and row.through >= through:
        return
    if row is None or row.day != day:
        start, so_far = local_midnight(tenant, day), Day(day)
    else:
        start, so_far = row.through, Day(day, *(getattr(row, f) for f in FIELDS))
    counted = so_far + count_between(session, tenant, start, through).get(day, Day(day))
    values = {f: getattr(counted, f) for f in FIELDS}
    if row is None:
        session.add(OpenDayFigures(tenant_id=tenant.id, day=day, through=through, **values))
        return
    row.day, row.through = day, through
    for field, value in values.items():
        setattr(row, field, value)


def _row(day: Day) -> DailyFigure:
    return DailyFigure(day=day.day, **{f: getattr(day, f) for f in FIELDS})


@platform_job(queue="bulk")
def roll_up_all(now_iso: str | None = None) -> int:
    """The hourly job: each tenant's closed days, each tenant in its own transaction."""
    now = datetime.fromisoformat(now_iso) if now_iso else utcnow()
    platform = current_platform()
    with platform_session(platform.sessions) as session:
        tenant_ids = list(session.scalars(select(Tenant.id).order_by(Tenant.id)))
    stored = 0
    for tenant_id in tenant_ids:
        with tenant_session(platform.sessions, tenant_id) as session:
            tenant = session.get(Tenant, tenant_id)
            stored += roll_up(session, tenant, now)
            session.commit()
    return stored


def figures_between(
    session: Session, tenant: Tenant, since: date, until: date, now: datetime | None = None
) -> list[Day]:
    """Every local day in [since, until]: stored days read back (a day inside the stored
    span without a row had nothing), the days outside that span counted live (today,
    days not rolled up yet, days before the merchant's first activity)."""
    today = local_today(tenant, now)
    first, last = stored_span(session)
    found: dict[date, Day] = {}
    if first is not None and last is not None and since <= last and until >= first:
        # Plain rows, not ORM objects: a year's range is 365 of them on every page.
        for day, *values in session.execute(
            _STORED, {"since": max(since, first), "until": min(until, last)}
        ):
            found[day] = Day(day, *values)
    if first is None or last is None:
        live = [(since, min(until, today))]
    else:
        live = [(since, min(until, today, first - timedelta(days=1))),
                (max(since, last + timedelta(days=1)), min(until, today))]  # fmt: skip
    live = [(start, end) for start, end in live if start <= end]
    if live:
        # The open day's row, read once for both spans (a year's range has two: the
        # days before the first activity and those after the last stored day).
        open_ = session.execute(_OPEN_DAY).first()
        for start, end in live:
            found.update(_count_live(session, tenant, start, end, open_))
    return [found.get(d) or Day(d) for d in _dates(since, until)]


def _count_live(
    session: Session, tenant: Tenant, since: date, until: date, open_: Any
) -> dict[date, Day]:
    """The days [since, until] from the ledger, the open day's figures counted by the job
    (`open_`: its row of _OPEN_DAY, or None) taken as they are: only what was written
    after them is counted here."""
    end = local_midnight(tenant, until + timedelta(days=1))
    if open_ is None or not since <= open_.day <= until:
        return count_between(session, tenant, local_midnight(tenant, since), end)
    found = {}
    if since < open_.day:
        found = count_between(
            session, tenant, local_midnight(tenant, since), local_midnight(tenant, open_.day)
        )
    later = count_between(session, tenant, open_.through, end)
    found.update(later)
    so_far = Day(open_.day, *(getattr(open_, f) for f in FIELDS))
    found[open_.day] = so_far + later.get(open_.day, Day(open_.day))
    return found


def audit(
    session: Session,
    tenant: Tenant,
    *,
    sample: int = AUDITED_DAYS,
    rng: random.Random | None = None,
) -> list[tuple[Day, Day]]:
    """Recount from the ledger the last stored day (the one a late commit could miss) and
    a random sample of the others, and repair each stored day that differs (the caller
    commits); returns the (stored, counted) pairs that differed."""
    first, last = stored_span(session)
    if first is None or last is None:
        return []
    rng = rng or random.Random()
    span = _dates(first, last - timedelta(days=1))
    days = [last, *rng.sample(span, min(len(span), max(sample - 1, 0)))]
    drifts = []
    for day in sorted(days):
        counted = count_days(session, tenant, day, day + timedelta(days=1)).get(day, Day(day))
        row = session.scalar(select(DailyFigure).where(DailyFigure.day == day))
        stored = Day(day, *(getattr(row, f) for f in FIELDS)) if row else Day(day)
        if stored == counted:
            continue
        drifts.append((stored, counted))
        if row is None:
            session.add(_row(counted))
        else:
            for f in FIELDS:
                setattr(row, f, getattr(counted, f))
    session.flush()
    return drifts


@platform_job(queue="bulk")
def audit_all() -> int:
    """The hourly check: each merchant's sampled days against the ledger, each merchant in
    its own transaction; a drift is logged as an error and repaired. Returns how many days
    were repaired."""
    platform = current_platform()
    with platform_session(platform.sessions) as session:
        tenant_ids = list(session.scalars(select(Tenant.id).order_by(Tenant.id)))
    repaired = 0
    for tenant_id in tenant_ids:
        with tenant_session(platform.sessions, tenant_id) as session:
            tenant = session.get(Tenant, tenant_id)
            drifts = audit(session, tenant)
            session.commit()
        for stored, counted in drifts:
            log.error(
                "daily figures of tenant %s on %s drifted: stored %s, counted %s; repaired",
                tenant_id,
                stored.day,
                stored,
                counted,
            )
        repaired += len(drifts)
    return repaired


def _dates(since: date, until: date) -> list[date]:
    return [since + timedelta(days=n) for n in range((until - since).days + 1)]
