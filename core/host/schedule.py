"""The core's own periodic jobs, declared through the same hook plugins use."""

from __future__ import annotations

from core.customer_app import sessions as customer_sessions
from core.host.contributions import PeriodicJob
from core.host.plugins import hookimpl
from core.loyalty import expiry, figures, member_totals
from core.operator import exports
from core.web import staff_sessions
from tenants import domains


@hookimpl
def periodic_jobs() -> list[PeriodicJob]:
    # Hourly: each tenant's 1st starts at a different UTC hour.
    return [
        PeriodicJob("core.expiry", expiry.tick, every=3600),
        # Hourly too: each tenant's day closes at its own local midnight.
        PeriodicJob("core.figures", figures.roll_up_all, every=3600, queue="bulk"),
        # Hourly: a sample of each merchant's stored days recounted from the ledger.
        PeriodicJob("core.figures_audit", figures.audit_all, every=3600, queue="bulk"),
        # Hourly: each merchant's kept totals (Inicio) checked against a full count.
        PeriodicJob("core.totals", member_totals.audit_all, every=3600, queue="bulk"),
        PeriodicJob(
            "core.staff_sessions", staff_sessions.forget_old_sessions, every=3600, queue="bulk"
        ),
        PeriodicJob(
            "core.customer_sessions",
            customer_sessions.forget_old_sessions,
            every=3600,
            queue="bulk",
        ),
        # Hourly, checking each own domain a day after its last check.
        PeriodicJob("core.domains", domains.tick, every=3600),
        # Hourly, deleting the operators' export archives a week after they were made.
        PeriodicJob("core.exports", exports.forget_old_archives, every=3600, queue="bulk"),
    ]
