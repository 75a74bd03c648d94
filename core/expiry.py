"""The monthly expiry: on the 1st of each month, in each tenant's time zone.

An hourly tick looks for tenants whose local month has not been processed
yet and queues one job each. The job expires the lots due by local midnight
of the 1st (`ledger.expire_due`), records the run, and tells each member with
points expiring during the new month. A period is processed once per tenant
(a unique row), so the tick and the job are safe to run twice or after a crash.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from sqlalchemy import String, UniqueConstraint, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from core import ledger
from core.customers import Membership
from core.db import Base, TenantOwned, platform_session, utcnow
from core.events import announce
from core.platform import current_platform
from tenants.models import Tenant
from worker.jobs import enqueue, platform_job, tenant_job


class ExpiryRun(TenantOwned, Base):
    __tablename__ = "expiry_runs"
    __table_args__ = (UniqueConstraint("tenant_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(7))  # "2026-11", the tenant's local month
    as_of: Mapped[datetime]
    entries: Mapped[int]
    ran_at: Mapped[datetime] = mapped_column(default=utcnow)


def month_start(tenant: Tenant, now: datetime) -> datetime:
    """Midnight of the 1st of `now`'s month in the tenant's time zone (aware)."""
    local = now.astimezone(ZoneInfo(tenant.timezone))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@platform_job()
def tick(now: datetime | None = None) -> list[int]:
    """Queue the expiry of every tenant whose local month is not processed yet."""
    now = now or utcnow()
    with platform_session(current_platform().sessions) as session:
        # Local months differ by at most a day around the 1st: recent runs suffice.
        done = set(session.execute(
            select(ExpiryRun.tenant_id, ExpiryRun.period)
            .where(ExpiryRun.as_of > now - timedelta(days=40))
        ))
        due = [
            tenant.id
            for tenant in session.scalars(select(Tenant).order_by(Tenant.id))
            if (tenant.id, month_start(tenant, now).strftime("%Y-%m")) not in done
        ]
    # Queued once the session is closed: embedded, the job runs right here.
    for tenant_id in due:
        enqueue(None, expire_month, tenant_id, now.isoformat())
    return due


@tenant_job(queue="default")
def expire_month(session: Session, tenant: Tenant, now_iso: str) -> int:
    start = month_start(tenant, datetime.fromisoformat(now_iso))
    period = start.strftime("%Y-%m")
    if session.scalar(select(ExpiryRun.id).where(ExpiryRun.period == period)):
        return 0
    written = ledger.expire_due(session, start)
    session.add(ExpiryRun(period=period, as_of=start, entries=written))
    try:
        session.flush()
    except IntegrityError:  # a twin job got here first and did the work
        session.rollback()
        return 0
    if written:
        announce(session, "points_expired", entry_count=written)
    _warn_expiring(session, start, start + relativedelta(months=1))
    return written


def _warn_expiring(session: Session, start: datetime, end: datetime) -> None:
    """Tell each member how many points expire before the next 1st."""
    lot = ledger.Lot
    expiring = (
        select(lot.member_id, func.sum(lot.remaining).label("points"),
               func.min(lot.expires_at).label("first"))
        .where(lot.remaining > 0, lot.expires_at > start, lot.expires_at <= end)
        .group_by(lot.member_id)
        .subquery()
    )
    rows = session.execute(
        select(Membership, expiring.c.points, expiring.c.first)
        .join(expiring, expiring.c.member_id == Membership.id)
    ).all()
    for member, points, first_expiry in rows:
        announce(
            session, "notify", member=member, topic="points_expiring",
            context={"points": int(points), "expires_at": first_expiry.isoformat()},
        )
