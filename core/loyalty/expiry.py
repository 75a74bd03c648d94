"""The monthly expiry: on the 1st of each month, in each tenant's time zone.

An hourly tick looks for tenants whose local month has not been processed
yet and queues one job each. The job expires the lots due by local midnight
of the 1st (`expire_lots`: `ledger.expire_due` over ranges of members, side by
side on PostgreSQL), records the run, and then (`warn_month`, a job queued once
the run is committed, or by the tick if that job was lost) the warnings of the
new month: jobs on the bulk queue, each telling the members of one range
of ids (WARNING_PAGE members with points expiring) how many points expire
during the month and when. A period is processed once per tenant (a unique
row), so the tick and the job are safe to run twice or after a crash; a
warning page run twice is told twice to the `notify` channels, which dedupe
by member and `period` (the notifications plugin keys its e-mail on them).

`upcoming_expiries` is what the panel and the customer show ahead of that
(`upcoming_expiries_of`: several members of several tenants in one statement).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from flask import current_app
from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    UniqueConstraint,
    and_,
    func,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.host.db import (
    Base,
    TenantOwned,
    platform_session,
    session_tenant_id,
    tenant_session,
    utcnow,
)
from core.host.events import announce
from core.host.platform import current_platform
from core.loyalty import ledger
from core.loyalty.members import Membership
from core.loyalty.rewards import Reward, offers
from tenants.models import Tenant
from worker.jobs import enqueue, platform_job, tenant_job

# Members told per warning job: one job's announcements stay a bounded batch.
WARNING_PAGE = 1000


class ExpiryRun(TenantOwned, Base):
    __tablename__ = "expiry_runs"
    __table_args__ = (UniqueConstraint("tenant_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(7))  # "2026-11", the tenant's local month
    as_of: Mapped[datetime]
    entries: Mapped[int]
    ran_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the month's warnings were queued; none yet: the tick queues them again.
    warned_at: Mapped[datetime | None]


def month_start(tenant: Tenant, now: datetime) -> datetime:
    """Midnight of the 1st of `now`'s month in the tenant's time zone (aware)."""
    local = now.astimezone(ZoneInfo(tenant.timezone))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def period_start(tenant: Tenant, period: str) -> datetime:
    """Midnight of the 1st of `period` ("2026-03") in the tenant's time zone (aware)."""
    year, month = (int(part) for part in period.split("-"))
    return datetime(year, month, 1, tzinfo=ZoneInfo(tenant.timezone))


# A run whose warnings are not queued this long after it: its job died in between.
WARNINGS_LOST_AFTER = timedelta(minutes=15)


@platform_job()
def tick(now: datetime | None = None) -> list[int]:
    """Queue the expiry of every tenant whose local month is not processed yet, and the
    warnings of any recent run whose job died before queueing them."""
    now = now or utcnow()
    with platform_session(current_platform().sessions) as session:
        # Local months differ by at most a day around the 1st: recent runs suffice.
        recent = session.execute(
            select(
                ExpiryRun.tenant_id, ExpiryRun.period, ExpiryRun.ran_at, ExpiryRun.warned_at
            ).where(ExpiryRun.as_of > now - timedelta(days=40))
        ).all()
        done = {(run.tenant_id, run.period) for run in recent}
        due = [
            tenant.id
            for tenant in session.scalars(select(Tenant).order_by(Tenant.id))
            if (tenant.id, month_start(tenant, now).strftime("%Y-%m")) not in done
        ]
        unwarned = [
            (run.tenant_id, run.period)
            for run in recent
            if run.warned_at is None and run.ran_at <= now - WARNINGS_LOST_AFTER
        ]
    # Queued once the session is closed: embedded, the job runs right here.
    for tenant_id in due:
        enqueue(None, expire_month, tenant_id, now.isoformat())
    for tenant_id, period in unwarned:
        enqueue(None, warn_month, tenant_id, period)
    return due


@tenant_job(queue="default")
def expire_month(session: Session, tenant: Tenant, now_iso: str) -> int:
    start = month_start(tenant, datetime.fromisoformat(now_iso))
    period = start.strftime("%Y-%m")
    if session.scalar(select(ExpiryRun.id).where(ExpiryRun.period == period)):
        return 0
    run = ExpiryRun(period=period, as_of=start, entries=0)
    session.add(run)
    try:
        # Claims the period first: a twin job waits here until this one has committed
        # (then finds the period taken) or failed (then does the work itself).
        session.flush()
    except IntegrityError:
        session.rollback()
        return 0
    written = run.entries = expire_lots(session, start)
    if written:
        announce(session, "points_expired", entry_count=written)
    # The warnings are a job of their own, queued once the run is committed; if this
    # process dies in between, the run stays unwarned and the tick queues them.
    enqueue(session, warn_month, tenant.id, period)
    return written


@tenant_job(queue="default")
def warn_month(session: Session, tenant: Tenant, period: str) -> int:
    """Queue the warning pages of a month's run, once, and mark the run warned.

    The pages are queued before the mark is committed: a job dying in between is
    run again by the tick, and queues them again, which tells no one twice (the
    `notify` channels dedupe by member and period). Returns the pages queued."""
    run = session.scalar(select(ExpiryRun).where(ExpiryRun.period == period))
    if run is None or run.warned_at is not None:
        return 0
    run_id, pages = run.id, warning_pages(session, tenant, period)
    session.commit()  # nothing held while the pages run (in-process, they run right here)
    for first_id, before_id in pages:
        enqueue(None, warn_expiring, tenant.id, period, first_id, before_id)
    session.execute(update(ExpiryRun).where(ExpiryRun.id == run_id).values(warned_at=utcnow()))
    return len(pages)


def expire_lots(session: Session, as_of: datetime, *, commit: bool = True) -> int:
    """Expire every point of the session's tenant due by `as_of`; returns the entries
    written.

    On PostgreSQL the members are split into PREMIA_EXPIRY_PARTS ranges holding
    about as many due lots each, expired side by side, each range in its own
    transaction (committed unless `commit` is false, as the benchmark measures it):
    the work is the database's, so the server's cores share it, and a member stays
    locked for one range's run, not the whole tenant's. A crash between two commits
    leaves the rest due for the next run of the job. Elsewhere (SQLite, a single
    writer) it all runs in the session's own transaction.
    """
    parts = current_app.config["PREMIA_EXPIRY_PARTS"]
    if parts <= 1 or session.get_bind().dialect.name != "postgresql":
        return ledger.expire_due(session, as_of)
    ranges = ledger.due_ranges(session, as_of, parts)
    app, sessions = current_app._get_current_object(), current_platform().sessions
    tenant_id = session_tenant_id(session)

    def expire_range(members: ledger.MemberRange) -> int:
        with app.app_context(), tenant_session(sessions, tenant_id) as part:
            written = ledger.expire_due(part, as_of, members)
            part.commit() if commit else part.rollback()
            return written

    with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
        return sum(pool.map(expire_range, ranges))


# --- telling members ---------------------------------------------------------


def _expiring_in(tenant_id: int, start: datetime) -> ColumnElement[bool]:
    """Lots with points that the run on the 1st after `start`'s month will expire
    (and not the run at `start` itself, which took those due by `start`)."""
    lot = ledger.Lot
    return and_(
        lot.tenant_id == tenant_id,
        lot.remaining > 0,
        lot.expires_at > start,
        lot.expires_at <= start + relativedelta(months=1),
    )


def members_with_points_expiring(tenant: Tenant, now: datetime) -> Select:
    """A SELECT of the ids of `tenant`'s members with points the run on the 1st of next
    (local) month will expire: "points expiring this month", for choosing an audience."""
    return (
        select(ledger.Lot.member_id)
        .where(_expiring_in(tenant.id, month_start(tenant, now)))
        .distinct()
    )


def _anyone_listens(session: Session, tenant: Tenant) -> bool:
    plugins = current_platform().plugins
    _tenant, active = plugins.audience(session, tenant.id)
    return bool(plugins.caller(active, "notify").get_hookimpls())


def warning_pages(
    session: Session, tenant: Tenant, period: str
) -> list[tuple[int | None, int | None]]:
    """The pages of members to warn about points expiring during `period`: one per
    WARNING_PAGE such members, as ranges of member ids [first, before).

    One set-based query numbers the members and keeps the first id of each page;
    the ranges cover every id (the first from nothing, the last to nothing), so a
    member who comes to have points expiring before their page runs (a refund into
    an old lot) is told too. None when no plugin listens to `notify`.
    """
    if not _anyone_listens(session, tenant):
        return []
    lot = ledger.Lot
    numbered = (
        select(lot.member_id, func.row_number().over(order_by=lot.member_id).label("n"))
        .where(_expiring_in(tenant.id, period_start(tenant, period)))
        .group_by(lot.member_id)
        .subquery()
    )
    firsts = session.scalars(
        select(numbered.c.member_id)
        .where((numbered.c.n - 1) % WARNING_PAGE == 0)
        .order_by(numbered.c.member_id)
    ).all()
    if not firsts:
        return []
    bounds: list[int | None] = [None, *firsts[1:], None]
    return list(pairwise(bounds))


@tenant_job(queue="bulk")
def warn_expiring(
    session: Session, tenant: Tenant, period: str, first_id: int | None, before_id: int | None
) -> int:
    """Tell each member with id in [first_id, before_id) (None: unbounded) how many
    points expire during `period` and the first date (in the tenant's zone), through
    the `notify` hook. Returns the number of members told."""
    start = period_start(tenant, period)
    lot = ledger.Lot

    def in_page(column: Any) -> ColumnElement[bool]:
        return and_(
            column >= first_id if first_id is not None else true(),
            column < before_id if before_id is not None else true(),
        )

    expiring = (
        select(
            lot.member_id,
            func.sum(lot.remaining).label("points"),
            func.min(lot.expires_at).label("first"),
        )
        .where(_expiring_in(tenant.id, start), in_page(lot.member_id))
        .group_by(lot.member_id)
        .subquery()
    )
    rows = session.execute(
        select(Membership, expiring.c.points, expiring.c.first)
        .join(expiring, expiring.c.member_id == Membership.id)
        .where(in_page(Membership.id))  # the range on both sides: no scan of every member
        .order_by(Membership.id)
    ).all()
    zone = ZoneInfo(tenant.timezone)
    for member, points, first_expiry in rows:
        announce(
            session,
            "notify",
            member=member,
            topic="points_expiring",
            context={
                "points": int(points),
                "expires_at": first_expiry.astimezone(zone).isoformat(),
                "period": period,
            },
        )
    return len(rows)


# --- what members see ahead ------------------------------------------------


def upcoming_expiries(
    session: Session, member: Membership, *, months: int = 3
) -> list[tuple[date, int]]:
    """The member's unused points that the next `months` monthly runs will expire,
    as (local date of expiry, points), soonest first, one row per date.

    Dates are the lots' own expiry in the tenant's time zone (what the warning
    e-mail says), not the 1st on which the run takes them: with `months=3` on
    10 March, everything expiring up to midnight starting 1 June. Points whose
    date has passed but that this month's run has not taken yet are included,
    with their (past) date: they are still in the balance, and will go.
    """
    tenant = session.get(Tenant, session_tenant_id(session))
    return upcoming_expiries_of(session, [(member, tenant)], months=months)[member.id]


def upcoming_expiries_of(
    session: Session, members: Sequence[tuple[Membership, Tenant]], *, months: int = 3
) -> dict[int, list[tuple[date, int]]]:
    """`upcoming_expiries` of several members, each of their own tenant (the customer
    app's shared home: one person's memberships), by member id, in one statement.

    Each member's horizon is their tenant's (its time zone's month): the statement
    reads every lot up to the latest horizon, and the few lots past a member's own
    are dropped here."""
    now = utcnow()
    horizons = {
        member.id: (
            month_start(tenant, now) + relativedelta(months=months),
            ZoneInfo(tenant.timezone),
        )
        for member, tenant in members
    }
    if not horizons:
        return {}
    found: dict[int, dict[date, int]] = {member_id: defaultdict(int) for member_id in horizons}
    lot = ledger.Lot
    rows = session.execute(
        select(lot.member_id, lot.expires_at, lot.remaining)
        .where(
            lot.member_id.in_(horizons),
            lot.remaining > 0,
            lot.expires_at.is_not(None),
            lot.expires_at <= max(horizon for horizon, _zone in horizons.values()),
        )
        .order_by(lot.expires_at)
    )
    for member_id, expires_at, remaining in rows:
        horizon, zone = horizons[member_id]
        if expires_at <= horizon:  # insertion order: soonest first
            found[member_id][expires_at.astimezone(zone).date()] += remaining
    return {member_id: list(by_date.items()) for member_id, by_date in found.items()}


def best_reward_before_expiry(session: Session, member: Membership) -> Reward | None:
    """The dearest reward on offer that `member` can have now (points and stock): what
    the warning of expiring points suggests, so the points buy something before they go."""
    within = [offer.reward for offer in offers(session, member) if offer.within_reach]
    return max(within, key=lambda reward: (reward.points, -reward.id), default=None)
