"""Paying a referral after the friend's credit commits (idempotent: the ledger keys)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.sdk import Entry, Tenant, tenant_job
from plugins.referrals import referrals


@tenant_job(queue="default", plugin="referrals")
def settle(session: Session, tenant: Tenant, friend_id: int, entry_id: int) -> str | None:
    referral = referrals.settle(session, tenant, friend_id, entry_id)
    return referral.status if referral is not None else None


@tenant_job(queue="default", plugin="referrals")
def settle_many(session: Session, tenant: Tenant, entry_ids: list[int]) -> int:
    """`settle` for each of many credits written together (a file of points), each
    committed before the next; returns how many entries it looked at."""
    members = session.execute(
        select(Entry.id, Entry.member_id).where(Entry.id.in_(entry_ids)).order_by(Entry.id)
    ).all()
    for entry_id, member_id in members:
        referrals.settle(session, tenant, member_id, entry_id)
        session.commit()
    return len(members)
