"""Merchants as operators see them: a searchable list with their figures, a plan change,
suspension and reactivation. Every change is audited by the caller's `audit.record`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.host.db import utcnow
from core.host.errors import Conflict
from core.host.plugins import PluginHost
from core.loyalty.ledger import Entry
from core.loyalty.members import Membership
from core.operator import audit
from core.operator.models import Operator
from tenants.models import Plan, Tenant, TenantPlugin
from tenants.services import get_plan

PAGE = 100


@dataclass(frozen=True)
class MerchantRow:
    """One merchant with what the console's list shows of it."""

    tenant: Tenant
    members: int
    points: int  # in circulation: the sum of its members' balances
    last_activity: datetime | None  # its latest ledger entry
    plugins_on: tuple[str, ...]
    plugins_off: tuple[str, ...]  # allowed by the plan, switched off by the merchant


def search(
    session: Session, plugins: PluginHost, query: str = "", *, limit: int = PAGE
) -> list[MerchantRow]:
    """Merchants whose address, name or domain contains `query` (all when empty), by name;
    `session` is a platform session."""
    select_tenants = select(Tenant).order_by(Tenant.name, Tenant.id).limit(limit)
    text = (query or "").strip().lower()
    if text:
        pattern = f"%{text.replace('%', '').replace('_', '')}%"
        select_tenants = select_tenants.where(
            or_(
                func.lower(Tenant.slug).like(pattern),
                func.lower(Tenant.name).like(pattern),
                func.lower(func.coalesce(Tenant.domain, "")).like(pattern),
            )
        )
    tenants = list(session.scalars(select_tenants))
    return rows_for(session, plugins, tenants)


def rows_for(session: Session, plugins: PluginHost, tenants: list[Tenant]) -> list[MerchantRow]:
    ids = [t.id for t in tenants]
    if not ids:
        return []
    members = {
        tenant_id: (count, points)
        for tenant_id, count, points in session.execute(
            select(
                Membership.tenant_id,
                func.count(Membership.id),
                func.coalesce(func.sum(Membership.balance), 0),
            )
            .where(Membership.tenant_id.in_(ids))
            .group_by(Membership.tenant_id)
        )
    }
    # One MAX per merchant, each read from the end of the (tenant_id, created_at) index;
    # a GROUP BY over the IN list would read every entry of every merchant listed.
    latest = (
        select(func.max(Entry.created_at))
        .where(Entry.tenant_id == Tenant.id)
        .correlate(Tenant)
        .scalar_subquery()
    )
    last = dict(session.execute(select(Tenant.id, latest).where(Tenant.id.in_(ids))).all())
    off: dict[int, set[str]] = {}
    for tenant_id, name in session.execute(
        select(TenantPlugin.tenant_id, TenantPlugin.plugin).where(
            TenantPlugin.tenant_id.in_(ids), TenantPlugin.enabled.is_(False)
        )
    ):
        off.setdefault(tenant_id, set()).add(name)
    rows = []
    for tenant in tenants:
        allowed = plugins.allowed(tenant)
        switched_off = off.get(tenant.id, set()) & allowed
        count, points = members.get(tenant.id, (0, 0))
        rows.append(
            MerchantRow(
                tenant=tenant,
                members=int(count),
                points=int(points),
                last_activity=last.get(tenant.id),
                plugins_on=tuple(sorted(allowed - switched_off)),
                plugins_off=tuple(sorted(switched_off)),
            )
        )
    return rows


def change_plan(
    session: Session, tenant: Tenant, code: str, *, by: Operator, address: str | None
) -> Plan:
    """Move a merchant to another plan (its plugins follow the plan's list at once)."""
    plan = get_plan(session, code)
    before = tenant.plan.code
    if plan.id == tenant.plan_id:
        return plan
    tenant.plan = plan
    audit.record(
        session, by, "plan_change", address=address, merchant=tenant, before=before, after=code
    )
    session.flush()
    return plan


def suspend(session: Session, tenant: Tenant, *, by: Operator, address: str | None) -> None:
    """Close the merchant's panel, app and API (403) without touching any of its data."""
    if tenant.suspended_at is not None:
        raise Conflict(_l("This merchant is already suspended."))
    tenant.suspended_at = utcnow()
    audit.record(session, by, "suspend", address=address, merchant=tenant)
    session.flush()


def reactivate(session: Session, tenant: Tenant, *, by: Operator, address: str | None) -> None:
    if tenant.suspended_at is None:
        raise Conflict(_l("This merchant is not suspended."))
    tenant.suspended_at = None
    audit.record(session, by, "reactivate", address=address, merchant=tenant)
    session.flush()
