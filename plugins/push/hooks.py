"""Hook implementations: transactional pushes beside e-mail, the panel's menu entry,
the scheduler's tick, the app's scripts and service worker handler, erasure."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete
from sqlalchemy.orm import Session

from core.sdk import (
    MANAGERS,
    Entry,
    Kind,
    Membership,
    MenuItem,
    PeriodicJob,
    Redemption,
    RedemptionStatus,
    Tenant,
    account_loaded,
    app_url,
    enqueue,
    hookimpl,
    wants_push,
)
from plugins.push import jobs
from plugins.push.messages import TOPIC
from plugins.push.models import Device

TOLD_CREDITS = {Kind.EARN, Kind.ADJUST}


def _push(
    tenant: Tenant,
    member: Membership | None,
    message: str,
    key: str,
    data: dict,
    *,
    member_id: int | None = None,
) -> None:
    # Asked here too where the account is at hand (the job asks again): no job for a
    # person who said no. A member locked for a sale comes without it, and loading it
    # now, after the commit, would cost the sale a transaction: the job alone asks.
    customer = account_loaded(member) if member is not None else None
    if customer is None or wants_push(customer, TOPIC[message]):
        member_id = member.id if member is not None else member_id
        enqueue(None, jobs.push_member, tenant.id, member_id, key, TOPIC[message], message, data)


@hookimpl
def entry_recorded(tenant: Tenant, entry: Entry, member: Membership) -> None:
    if entry.points > 0 and entry.kind in TOLD_CREDITS:
        _push(tenant, member, "points_received", f"points:{entry.id}", {"entry_id": entry.id})


# Credits written in bulk (a file of points) whose pushes one job queues.
POINTS_CHUNK = 200


@hookimpl
def entries_recorded(tenant: Tenant, kind: str, entry_ids: list[int]) -> None:
    if kind in TOLD_CREDITS:  # bulk entries are credits (points > 0)
        for start in range(0, len(entry_ids), POINTS_CHUNK):
            enqueue(
                None, jobs.push_points_received, tenant.id, entry_ids[start : start + POINTS_CHUNK]
            )


@hookimpl
def redemption_changed(tenant: Tenant, redemption: Redemption) -> None:
    message = {
        RedemptionStatus.CONFIRMED: "redemption_confirmed",
        RedemptionStatus.CANCELLED: "redemption_cancelled",
    }.get(redemption.status)
    if message is not None:
        key = f"{message}:{redemption.id}"
        # By id: the member is not loaded with the redemption, and after the commit
        # nothing may be read (the job reads the member and asks its preferences).
        data = {"redemption_id": redemption.id}
        _push(tenant, None, message, key, data, member_id=redemption.member_id)


@hookimpl
def delivered_topics() -> list[str]:
    return ["points_expiring"]


@hookimpl
def notify(tenant: Tenant, member: Membership, topic: str, context: dict[str, Any]) -> None:
    if topic == "points_expiring":
        period = context.get("period") or context["expires_at"][:7]
        data = {"points": context["points"], "expires_at": context["expires_at"]}
        _push(tenant, member, "points_expiring", f"expiring:{member.id}:{period}", data)


@hookimpl
def periodic_jobs() -> list[PeriodicJob]:
    return [PeriodicJob("push.due", jobs.tick, every=60)]


@hookimpl
def panel_menu(tenant: Tenant) -> list[MenuItem]:
    return [MenuItem("t.push.index", _l("Notifications"), roles=MANAGERS, order=65)]


@hookimpl
def app_scripts(tenant: Tenant) -> list[str]:
    return [app_url("push_app.script")]


@hookimpl
def service_worker_scripts(tenant: Tenant) -> list[str]:
    return [app_url("push_app.worker")]


@hookimpl
def member_erased(session: Session, tenant: Tenant, member: Membership, email: str) -> None:
    # A deleted person's phones receive nothing more.
    session.execute(delete(Device).where(Device.member_id == member.id))
