"""The program's totals: how many customers a merchant has and the points they could
still redeem (the program's liability), kept as they change so Inicio reads them
without a pass over every membership (130 ms for a merchant of 1M members).

The database keeps them, not the services: triggers on `memberships` (migration
core_0015_inicio) add each statement's change of rows and balances to these rows,
in the same transaction, so no path that writes members or balances can miss them
(the ledger's commands, the earn's one-statement CTE, COPY imports, expiry runs,
refunds, returns, erasure, a plugin's own statement). A balance is the sum of its
entries, so the points are the ledger's too.

On PostgreSQL a merchant's totals are split over up to `STRIPES` rows, summed on read:
a transaction writes a stripe under its advisory lock, taken without waiting (this
backend's stripe first, then the next free one), so concurrent earns of one merchant
do not queue behind one row; SQLite has one writer at a time: one row per merchant.

`audit_all` (hourly) compares them with the full count, in one snapshot, and repairs a
drift by adding the difference: a change committed meanwhile carries its own delta, so
the repair is right whatever runs beside it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import BigInteger, PrimaryKeyConstraint, bindparam, func, select, text, true
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.host.db import Base, TenantOwned, platform_session, session_tenant_id, tenant_session
from core.host.platform import current_platform
from core.loyalty.members import Membership
from tenants.models import Tenant
from worker.jobs import platform_job

log = logging.getLogger(__name__)

STRIPES = 16  # the trigger function's modulus (migration core_0015_inicio)


class MemberTotals(TenantOwned, Base):
    """One stripe of a merchant's totals; the merchant's figures are the sum of its rows."""

    __tablename__ = "member_totals"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "stripe"),)

    stripe: Mapped[int] = mapped_column()
    # Bigint: a million members' balances can pass 2^31 points.
    members: Mapped[int] = mapped_column(BigInteger, default=0)
    points: Mapped[int] = mapped_column(BigInteger, default=0)


@dataclass(frozen=True)
class Totals:
    members: int
    points: int


# Built once: Inicio reads it on every page (a statement built per call is scoped and
# keyed for SQLAlchemy's cache per call).
_CURRENT = select(
    func.coalesce(func.sum(MemberTotals.members), 0),
    func.coalesce(func.sum(MemberTotals.points), 0),
).where(MemberTotals.tenant_id == bindparam("tenant_id"))


def current(session: Session) -> Totals:
    """The session's merchant's customers and points outstanding (a few rows, summed)."""
    members, points = session.execute(_CURRENT, {"tenant_id": session_tenant_id(session)}).one()
    return Totals(int(members), int(points))


@dataclass(frozen=True)
class Drift:
    """What the kept totals said, against the full count, when they disagreed."""

    tenant_id: int
    kept: Totals
    counted: Totals


def audit(session: Session) -> Drift | None:
    """Compare the session's merchant's totals with a full count of its memberships and,
    when they differ, add the difference (the caller commits). One statement reads both,
    so they come from one snapshot."""
    tenant_id = session_tenant_id(session)
    kept = (
        select(
            func.coalesce(func.sum(MemberTotals.members), 0),
            func.coalesce(func.sum(MemberTotals.points), 0),
        )
        .where(MemberTotals.tenant_id == tenant_id)
        .subquery()
    )
    counted = (
        select(func.count(Membership.id), func.coalesce(func.sum(Membership.balance), 0))
        .where(Membership.tenant_id == tenant_id)
        .subquery()
    )
    row = session.execute(select(kept, counted).select_from(kept.join(counted, true()))).one()
    drift = Drift(tenant_id, Totals(int(row[0]), int(row[1])), Totals(int(row[2]), int(row[3])))
    if drift.kept == drift.counted:
        return None
    add(session, tenant_id, drift.counted.members - drift.kept.members,
        drift.counted.points - drift.kept.points)  # fmt: skip
    return drift


def add(session: Session, tenant_id: int, members: int, points: int) -> None:
    """Add to a merchant's totals as the triggers do (on PostgreSQL, their own function:
    a free stripe, no wait)."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT member_totals_add(:t, :m, :p)"),
            {"t": tenant_id, "m": members, "p": points},
        )
        return
    conn.execute(
        text(
            "INSERT INTO member_totals (tenant_id, stripe, members, points) "
            "VALUES (:t, 0, :m, :p) ON CONFLICT (tenant_id, stripe) DO UPDATE SET "
            "members = members + excluded.members, points = points + excluded.points"
        ),
        {"t": tenant_id, "m": members, "p": points},
    )


@platform_job(queue="bulk")
def audit_all() -> list[Drift]:
    """The hourly check: every merchant's totals against the full count, each merchant in
    its own transaction; a drift is logged as an error and repaired."""
    platform = current_platform()
    with platform_session(platform.sessions) as session:
        tenant_ids = list(session.scalars(select(Tenant.id).order_by(Tenant.id)))
    drifts = []
    for tenant_id in tenant_ids:
        with tenant_session(platform.sessions, tenant_id) as session:
            drift = audit(session)
            session.commit()
        if drift is not None:
            log.error(
                "member totals of tenant %s drifted: kept %s members / %s points, "
                "counted %s / %s; repaired",
                tenant_id,
                drift.kept.members,
                drift.kept.points,
                drift.counted.members,
                drift.counted.points,
            )
            drifts.append(drift)
    return drifts
