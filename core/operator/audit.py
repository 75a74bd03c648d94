"""The audit log: every operator action, with who, what, to which merchant, when and from
which address. Written in the same transaction as the action, so one never stands without
the other."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.operator.models import AuditEntry, Operator
from tenants.models import Tenant

# The actions, with what the console shows for each.
ACTIONS: dict[str, Any] = {
    "sign_in": _l("Signed in"),
    "sign_in_recovery": _l("Signed in with a recovery code"),
    "sign_out": _l("Signed out"),
    "enrol": _l("Set up the authenticator app"),
    "recovery_codes": _l("Made new recovery codes"),
    "plan_change": _l("Changed a merchant's plan"),
    "suspend": _l("Suspended a merchant"),
    "reactivate": _l("Reactivated a merchant"),
    "export_start": _l("Started a data export"),
    "export_download": _l("Downloaded a data export"),
    "plan_plugins": _l("Changed a plan's plugins"),
    "plan_limit": _l("Changed a plan's limit"),
    "job_retry": _l("Retried a failed job"),
    "job_drop": _l("Dropped a failed job"),
}


def record(
    session: Session,
    operator: Operator,
    action: str,
    *,
    address: str | None,
    merchant: Tenant | None = None,
    target: str = "",
    **details: Any,
) -> AuditEntry:
    """Write what `operator` did (flushed with the caller's transaction)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    entry = AuditEntry(
        operator_id=operator.id,
        operator_email=operator.email,
        action=action,
        merchant_id=merchant.id if merchant is not None else None,
        target=(target or (merchant.slug if merchant is not None else ""))[:200],
        details=details,
        address=(address or "")[:64] or None,
    )
    session.add(entry)
    session.flush()
    return entry


def recent(
    session: Session, *, merchant_id: int | None = None, limit: int = 200
) -> list[AuditEntry]:
    """The latest entries, newest first (of one merchant, when given)."""
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    if merchant_id is not None:
        query = query.where(AuditEntry.merchant_id == merchant_id)
    return list(session.scalars(query))


def label(action: str) -> str:
    return str(ACTIONS.get(action, action))
