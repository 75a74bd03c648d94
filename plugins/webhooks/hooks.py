"""Hook implementations: the platform's announcements become events for the merchant's
endpoints; the scheduler's tick; the settings link on Configuración."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import String, cast, delete, literal, select
from sqlalchemy.orm import Session

from core.sdk import (
    MANAGERS,
    Entry,
    Kind,
    Membership,
    MenuItem,
    PeriodicJob,
    Purchase,
    PurchaseReturn,
    Redemption,
    RedemptionStatus,
    Tenant,
    announce,
    current_platform,
    enqueue,
    hookimpl,
    tenant_job,
    tenant_session,
    utcnow,
)
from plugins.webhooks import jobs, subscriptions
from plugins.webhooks.events import (
    entry_data,
    entry_event,
    kind_event,
    member_data,
    purchase_data,
    redemption_data,
)
from plugins.webhooks.models import Attempt, Delivery, Message
from plugins.webhooks.outbox import publish

# The events other plugins (and the core's member update) announce through `happened`.
HAPPENED = ("member.updated", "coupon.claimed", "tier.changed", "survey.answered")
REDEMPTION_EVENTS = {
    RedemptionStatus.REQUESTED: "redemption.requested",
    RedemptionStatus.CONFIRMED: "redemption.confirmed",
    RedemptionStatus.CANCELLED: "redemption.cancelled",
}
EXPIRY_WINDOW = timedelta(days=2)  # the expiry's entries looked at after its run
ENROLLED_CHUNK = 200  # an import's members whose `member.created` events one job writes
ENTRIES_CHUNK = 200  # credits written in bulk whose events one job writes


def _member(session: Session, member_id: int) -> dict[str, Any]:
    member = session.get(Membership, member_id, populate_existing=True)
    return member_data(member)


@hookimpl
def member_created(tenant: Tenant, member: Membership) -> None:
    publish_member_created(tenant, member.id)


@hookimpl
def members_enrolled(tenant: Tenant, member_ids: list[int]) -> None:
    """An import's customers: their `member.created` events are written by jobs, a chunk
    of members each, so that the import's batch never waits for them."""
    if "member.created" not in subscriptions.wanted(tenant.id):
        return
    for start in range(0, len(member_ids), ENROLLED_CHUNK):
        chunk = member_ids[start : start + ENROLLED_CHUNK]
        enqueue(None, publish_members_created, tenant.id, chunk)


@tenant_job(queue="webhooks", plugin="webhooks")
def publish_members_created(session: Session, tenant: Tenant, member_ids: list[int]) -> int:
    """The job: an import's `member.created` events (each keyed by its member, so a job
    run twice publishes each once), each written in a session of its own."""
    session.close()
    for member_id in member_ids:
        publish_member_created(tenant, member_id)
    return len(member_ids)


def publish_member_created(tenant: Tenant, member_id: int) -> None:
    publish(
        tenant,
        "member.created",
        f"member.created:{member_id}",
        lambda session: {"member": _member(session, member_id)},
        member_id,
    )


@hookimpl
def entry_recorded(tenant: Tenant, entry: Entry, member: Membership) -> None:
    publish(
        tenant,
        entry_event(entry),
        f"entry:{entry.id}",
        lambda session: {"member": _member(session, member.id), "entry": entry_data(tenant, entry)},
        member.id,
    )


@hookimpl
def entries_recorded(tenant: Tenant, kind: str, entry_ids: list[int]) -> None:
    """Credits written in bulk (a file of points): their events are written by jobs, a
    chunk of entries each, under the keys `entry_recorded` uses."""
    if kind_event(kind, 1) not in subscriptions.wanted(tenant.id):
        return
    for start in range(0, len(entry_ids), ENTRIES_CHUNK):
        enqueue(None, publish_entries, tenant.id, entry_ids[start : start + ENTRIES_CHUNK])


@tenant_job(queue="webhooks", plugin="webhooks")
def publish_entries(session: Session, tenant: Tenant, entry_ids: list[int]) -> int:
    """The job: each entry's event, as `entry_recorded` publishes it (keyed by the entry,
    so a job run twice publishes each once), each written in a session of its own."""
    entries = [
        (entry.id, entry.member_id, entry_event(entry), entry_data(tenant, entry))
        for entry in session.scalars(select(Entry).where(Entry.id.in_(entry_ids)))
    ]
    session.close()
    for entry_id, member_id, event, data in entries:
        publish(
            tenant,
            event,
            f"entry:{entry_id}",
            lambda session, m=member_id, d=data: {"member": _member(session, m), "entry": d},
            member_id,
        )
    return len(entries)


@hookimpl
def points_expired(tenant: Tenant, entry_count: int) -> None:
    """The expiry is set-based: its entries of the last days not sent yet are read
    back, one event each."""
    if "points.expired" not in subscriptions.wanted(tenant.id):
        return
    sent = select(Message.key).where(Message.event == "points.expired")
    with tenant_session(current_platform().sessions, tenant.id) as session:
        entries = [
            (entry.id, entry.member_id, entry_data(tenant, entry))
            for entry in session.scalars(
                select(Entry)
                .where(Entry.kind == Kind.EXPIRE, Entry.created_at >= utcnow() - EXPIRY_WINDOW)
                .where((literal("entry:") + cast(Entry.id, String)).not_in(sent))
                .order_by(Entry.id)
            )
        ]
    for entry_id, member_id, data in entries:
        publish(
            tenant,
            "points.expired",
            f"entry:{entry_id}",
            lambda session, m=member_id, d=data: {"member": _member(session, m), "entry": d},
            member_id,
        )


@hookimpl
def purchase_recorded(
    session: Session, tenant: Tenant, member: Membership, purchase: Purchase, entries: list[Entry]
) -> None:
    # In the purchase's transaction: only ids here (cheap on the sale's path); told after
    # it commits, through `happened`, where the body is built.
    ids = {"member_id": member.id, "id": purchase.id, "purchase_id": purchase.id}
    announce(
        session,
        "happened",
        event="purchase.recorded",
        data={**ids, "entry_ids": [entry.id for entry in entries]},
    )


@hookimpl
def purchase_returned(
    session: Session, tenant: Tenant, member: Membership, purchase: Purchase, entry: Entry | None
) -> None:
    entry_id = entry.id if entry is not None else None
    ids = {"member_id": member.id, "id": f"{purchase.id}:{entry_id or ''}"}
    announce(
        session,
        "happened",
        event="purchase.returned",
        data={**ids, "purchase_id": purchase.id, "entry_id": entry_id},
    )


def _purchase(tenant: Tenant, session: Session, data: dict[str, Any]) -> dict[str, Any]:
    """A purchase event's body, from the ids its transaction announced."""
    purchase = purchase_data(tenant, session.get(Purchase, data["purchase_id"]))

    def entry(entry_id: int) -> dict[str, Any]:
        return entry_data(tenant, session.get(Entry, entry_id))

    if "entry_ids" in data:
        return {"purchase": purchase, "entries": [entry(i) for i in data["entry_ids"]]}
    return {
        "purchase": purchase,
        "entry": entry(data["entry_id"]) if data["entry_id"] else None,
        "part": data.get("part"),
    }


@hookimpl
def purchase_partly_returned(
    session: Session,
    tenant: Tenant,
    member: Membership,
    purchase: Purchase,
    returned: PurchaseReturn,
    entry: Entry | None,
) -> None:
    part = {
        "amount": str(returned.amount),
        "points": returned.points,
        "points_not_recovered": returned.points_not_recovered,
        "lines": [dict(line) for line in returned.lines],
    }
    announce(
        session,
        "happened",
        event="purchase.returned",
        data={
            "member_id": member.id,
            "id": f"{purchase.id}:part:{returned.id}",
            "purchase_id": purchase.id,
            "entry_id": entry.id if entry is not None else None,
            "part": part,
        },
    )


@hookimpl
def redemption_changed(tenant: Tenant, redemption: Redemption) -> None:
    event = REDEMPTION_EVENTS.get(redemption.status)
    if event is None:
        return
    redemption_id, member_id = redemption.id, redemption.member_id

    def build(session: Session) -> dict[str, Any]:
        # Read again here: the announcing session is committed, its relations unloaded.
        found = session.get(Redemption, redemption_id, populate_existing=True)
        return {"member": _member(session, member_id), "redemption": redemption_data(found)}

    publish(tenant, event, f"{event}:{redemption_id}", build, member_id)


@hookimpl
def happened(tenant: Tenant, event: str, data: dict[str, Any]) -> None:
    if event not in (*HAPPENED, "purchase.recorded", "purchase.returned"):
        return
    rest = {k: v for k, v in data.items() if k not in ("member_id", "id")}
    key = f"{event}:{data['id']}" if data.get("id") is not None else None

    def build(session: Session) -> dict[str, Any]:
        member_id = data.get("member_id")
        member = {"member": _member(session, member_id)} if member_id else {}
        if event.startswith("purchase."):
            return {**member, **_purchase(tenant, session, data)}
        return {**member, **rest}

    publish(tenant, event, key, build, data.get("member_id"))


@hookimpl
def member_erased(session: Session, tenant: Tenant, member: Membership, email: str) -> None:
    """The events about a deleted person are deleted, with their deliveries' log."""
    about = select(Message.id).where(Message.member_id == member.id)
    deliveries = select(Delivery.id).where(Delivery.message_id.in_(about))
    options = {"synchronize_session": False}
    session.execute(
        delete(Attempt).where(Attempt.delivery_id.in_(deliveries)), execution_options=options
    )
    session.execute(
        delete(Delivery).where(Delivery.message_id.in_(about)), execution_options=options
    )
    session.execute(
        delete(Message).where(Message.member_id == member.id), execution_options=options
    )


@hookimpl
def periodic_jobs() -> list[PeriodicJob]:
    return [PeriodicJob("webhooks.due", jobs.tick, every=30)]


@hookimpl
def settings_links(tenant: Tenant) -> list[MenuItem]:
    return [MenuItem("t.webhooks.index", _l("Webhooks for your own systems"), roles=MANAGERS)]
