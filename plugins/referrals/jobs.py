"""Paying a referral after the friend's credit commits (idempotent: the ledger keys)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.sdk import Tenant, tenant_job
from plugins.referrals import referrals


@tenant_job(queue="default", plugin="referrals")
def settle(session: Session, tenant: Tenant, friend_id: int, entry_id: int) -> str | None:
    referral = referrals.settle(session, tenant, friend_id, entry_id)
    return referral.status if referral is not None else None
