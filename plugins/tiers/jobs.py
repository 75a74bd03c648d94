"""The period end: an hourly tick queues, per tenant, the run of its last period end.

A monthly period ends at local midnight of the 1st, a rolling one at every
local midnight. Each period end is processed once per tenant (a unique row in
`tiers_runs`), so the tick and the job are safe to run twice or after a crash.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import marshmallow as ma
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.sdk import (
    Tenant,
    TenantSetting,
    current_platform,
    enqueue,
    platform_job,
    platform_session,
    tenant_job,
    utcnow,
)
from plugins.tiers import services
from plugins.tiers.models import TierRun
from plugins.tiers.settings import TierSettings


def period_end(tenant: Tenant, settings: dict, now: datetime) -> tuple[str, datetime]:
    """The key and moment of the last period end at or before `now`."""
    if settings["period"] == "month":
        start = services.month_start(tenant, now)
        return "M" + start.strftime("%Y-%m"), start
    local = now.astimezone(ZoneInfo(tenant.timezone))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return "D" + midnight.strftime("%Y-%m-%d"), midnight


@platform_job()
def tick(now: datetime | None = None) -> list[int]:
    """Queue the period run of every tenant with tiers whose last period end is not done."""
    now = now or utcnow()
    platform = current_platform()
    schema = TierSettings()
    with platform_session(platform.sessions) as session:
        done = set(
            session.execute(
                select(TierRun.tenant_id, TierRun.period).where(
                    TierRun.as_of > now - timedelta(days=40)
                )
            )
        )
        stored = dict(
            session.execute(  # every tenant's row, explicitly (platform session)
                select(TenantSetting.tenant_id, TenantSetting.data).where(
                    TenantSetting.namespace == services.NAMESPACE
                )
            ).all()
        )
        due = []
        for tenant in session.scalars(select(Tenant).order_by(Tenant.id)):
            if "tiers" not in platform.plugins.active(session, tenant):
                continue
            try:
                settings = schema.load(dict(stored.get(tenant.id) or {}), unknown=ma.EXCLUDE)
            except ma.ValidationError:
                continue
            if settings["tiers"] and (tenant.id, period_end(tenant, settings, now)[0]) not in done:
                due.append(tenant.id)
    for tenant_id in due:
        enqueue(None, run_period_end, tenant_id, now.isoformat())
    return due


@tenant_job(queue="default", plugin="tiers")
def run_period_end(session: Session, tenant: Tenant, now_iso: str) -> int:
    settings = services.get_settings(session)
    key, as_of = period_end(tenant, settings, datetime.fromisoformat(now_iso))
    if session.scalar(select(TierRun.id).where(TierRun.period == key)):
        return 0
    run = f"{key}:{as_of.isoformat()}"
    changed = services.reevaluate(session, as_of, run=run)
    session.add(TierRun(period=key, as_of=as_of, changed=changed))
    try:
        session.flush()
    except IntegrityError:  # a twin job got here first and did the work
        session.rollback()
        return 0
    services.announce_run(session, run)
    return changed
