"""Hook implementations: turn events into e-mail jobs (sent from the `mail` queue)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from sqlalchemy import update
from sqlalchemy.orm import Session

from core.sdk import (
    Entry,
    Kind,
    Membership,
    Redemption,
    RedemptionStatus,
    Tenant,
    enqueue,
    hookimpl,
)
from plugins.notifications import jobs
from plugins.notifications.models import Delivery

# Credits a customer is told about (a refund is told through its redemption).
TOLD_CREDITS = {Kind.EARN, Kind.ADJUST}


@hookimpl
def member_created(tenant: Tenant, member: Membership) -> None:
    enqueue(None, jobs.mail_member, tenant.id, member.id, "welcome", f"welcome:{member.id}", {})


# New members welcomed per job when enrolled together (an import): a job per chunk,
# small enough to finish well within a mail job's time limit.
WELCOME_CHUNK = 200


@hookimpl
def members_enrolled(tenant: Tenant, member_ids: list[int]) -> None:
    for start in range(0, len(member_ids), WELCOME_CHUNK):
        enqueue(None, jobs.mail_welcomes, tenant.id, member_ids[start : start + WELCOME_CHUNK])


@hookimpl
def entry_recorded(tenant: Tenant, entry: Entry, member: Membership) -> None:
    if entry.points > 0 and entry.kind in TOLD_CREDITS:
        enqueue(
            None,
            jobs.mail_member,
            tenant.id,
            member.id,
            "points_received",
            f"points_received:{entry.id}",
            {"entry_id": entry.id},
        )


# Credits written in bulk (a file of points) told per job: their "points received"
# e-mails, a chunk of entries each.
POINTS_CHUNK = 200


@hookimpl
def entries_recorded(tenant: Tenant, kind: str, entry_ids: list[int]) -> None:
    if kind in TOLD_CREDITS:  # bulk entries are credits (points > 0)
        for start in range(0, len(entry_ids), POINTS_CHUNK):
            enqueue(
                None, jobs.mail_points_received, tenant.id, entry_ids[start : start + POINTS_CHUNK]
            )


@hookimpl
def redemption_changed(tenant: Tenant, redemption: Redemption) -> None:
    if redemption.status == RedemptionStatus.REQUESTED:
        enqueue(None, jobs.mail_merchant_request, tenant.id, redemption.id)
    elif redemption.status == RedemptionStatus.CONFIRMED:
        enqueue(
            None,
            jobs.mail_member,
            tenant.id,
            redemption.member_id,
            "redemption_confirmed",
            f"redemption_confirmed:{redemption.id}",
            {"redemption_id": redemption.id},
        )


@hookimpl
def delivered_topics() -> list[str]:
    return ["points_expiring", "tier_changed", "referral_paid"]


@hookimpl
def notify(tenant: Tenant, member: Membership, topic: str, context: dict[str, Any]) -> None:
    if topic == "points_expiring":
        # One warning per member and month, however often the warning job runs.
        period = context.get("period") or context["expires_at"][:7]
        key = f"points_expiring:{member.id}:{period}"
        enqueue(None, jobs.mail_member, tenant.id, member.id, "points_expiring", key, context)
    elif topic == "tier_changed":
        # Keyed per announcement: a retried job sends once, a later change again.
        key = f"tier_changed:{member.id}:{uuid4().hex}"
        enqueue(
            None,
            jobs.mail_member,
            tenant.id,
            member.id,
            "tier_changed",
            key,
            {"tier_change": context},
        )
    elif topic == "referral_paid":
        # Keyed per announcement, as a tier change: each paid friend is told once.
        key = f"referral_paid:{member.id}:{uuid4().hex}"
        enqueue(None, jobs.mail_member, tenant.id, member.id, "referral_paid", key, context)


@hookimpl
def member_erased(session: Session, tenant: Tenant, member: Membership, email: str) -> None:
    # The log of what was sent keeps no address of a deleted person (only the
    # anonymous one, which receives nothing).
    session.execute(
        update(Delivery).where(Delivery.recipient == email).values(recipient=member.email)
    )
