"""Push jobs: the scheduler's tick starts due sends; a send's start writes its
deliveries and queues one job per PER_JOB batches of 500; a batch job sends them a
batch at a time: it takes the batch's deliveries (pending → sending, under its claim,
committed before anything goes out, so another job never sends them too), sends them
with `send_each`, records each outcome and deletes the devices FCM says are gone.

At-least-once, for one batch: a job killed while FCM answers (after it took a batch,
before it recorded the outcome) leaves that batch "sending"; the job's retry (same
claim) or, STUCK later, any start takes it back and sends it again, to devices FCM may
already have reached (FCM's send has no idempotency key). The message carries the
send's id and our service worker shows it under one tag per send, so such a phone
shows one notification, not two. Batches recorded before the kill are not sent again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

import firebase_admin
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from core.sdk import (
    Entry,
    Membership,
    Tenant,
    current_platform,
    enqueue,
    platform_session,
    tenant_job,
    utcnow,
    wants_push,
)
from plugins.push import firebase, sends
from plugins.push.models import Delivery, DeliveryStatus, Device, Send, SendStatus
from plugins.push.sends import STUCK

log = logging.getLogger(__name__)

# Batches of 500 a job sends: each job pays a fork, a connection, its tenant and plugins,
# and rq's bookkeeping; 200 jobs of one batch cost the 100,000 devices' campaign 1.47 ×
# firebase-admin's own time (docs/benchmarks.md). A retried job resends at most one.
PER_JOB = 10


def tick() -> list[int]:
    """Queue the start of every send that is due (and of any whose start was lost)."""
    now = utcnow()
    with platform_session(current_platform().sessions) as session:
        due = session.execute(
            select(Send.tenant_id, Send.id).where(
                or_(
                    # Scheduled and due; one to send now was queued when it was made
                    # (picked up here only if that was lost).
                    and_(Send.status == SendStatus.SCHEDULED, Send.send_at <= now),
                    and_(
                        Send.status == SendStatus.SCHEDULED,
                        Send.send_at.is_(None),
                        Send.created_at <= now - STUCK,
                    ),
                    # A start whose batch jobs were lost (Redis flushed): queued again.
                    and_(Send.status == SendStatus.SENDING, Send.started_at <= now - STUCK),
                )
            )
        ).all()
    for tenant_id, send_id in due:
        enqueue(None, start_send, tenant_id, send_id)
    return [send_id for _tenant_id, send_id in due]


@tenant_job(queue="bulk", plugin="push")
def start_send(session: Session, tenant: Tenant, send_id: int) -> int:
    batches = sends.start(session, tenant, send_id)
    session.commit()
    return _queue_batches(tenant, send_id, batches)


def _queue_batches(tenant: Tenant, send_id: int, batches: Iterable[int]) -> int:
    """Queue a job per PER_JOB batches among `batches` (those with deliveries to take),
    each with a claim of its own; returns how many jobs."""
    groups = sorted({batch // PER_JOB for batch in batches})
    for group in groups:
        claim = uuid.uuid4().hex  # rq's retry of this job runs with the same one
        enqueue(None, send_batch, tenant.id, send_id, group * PER_JOB, PER_JOB, claim)
    return len(groups)


def _content(send: Send) -> dict[str, str]:
    content = {"title": send.title, "body": send.body, "send": str(send.id)}
    if send.image:
        content["image"] = send.image
    if send.link:
        content["link"] = send.link
    return content


@tenant_job(queue="bulk", plugin="push")
def send_batch(
    session: Session,
    tenant: Tenant,
    send_id: int,
    batch: int,
    count: int = 1,
    claim: str | None = None,
) -> int:
    """Send the batches `batch` to `batch + count - 1` of a send, one at a time, each
    taken and recorded in a transaction of its own; returns how many messages FCM took."""
    send = session.get(Send, send_id)
    if send is None:
        return 0
    setup = firebase.setup(tenant)
    if not setup.can_send:
        log.warning("push: %s has no Firebase credentials; send %s waits", tenant.slug, send_id)
        return 0
    app = firebase.app_for(setup.credentials)
    content = _content(send)
    sent = 0
    for number in range(batch, batch + count):
        sent += _send_one(session, app, send_id, number, claim, content)
    sends.finish_if_done(session, send_id)
    return sent


def _send_one(
    session: Session,
    app: firebase_admin.App,
    send_id: int,
    batch: int,
    claim: str | None,
    content: dict[str, str],
) -> int:
    now = utcnow()
    taken = session.execute(
        update(Delivery)
        .where(
            Delivery.send_id == send_id,
            Delivery.batch == batch,
            sends.takeable(claim, now),
        )
        .values(status=DeliveryStatus.SENDING, claim=claim, taken_at=now)
        .returning(Delivery.id, Delivery.token, Delivery.device_id),
        execution_options={"synchronize_session": False},
    ).all()
    session.commit()  # taken: another job leaves them (see the module's docstring)
    if not taken:
        return 0
    try:
        outcome = firebase.send_batch(app, [(row.id, row.token) for row in taken], content)
    except Exception:
        # Nothing left (credentials, the network): the rows go back to pending, so the
        # job's retry takes them again, and so does any start meanwhile.
        session.rollback()
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_([row.id for row in taken]))
            .values(status=DeliveryStatus.PENDING, claim=None, taken_at=None),
            execution_options={"synchronize_session": False},
        )
        session.commit()
        raise
    device_of = {row.id: row.device_id for row in taken}
    if outcome.sent:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(outcome.sent))
            .values(status=DeliveryStatus.SENT),
            execution_options={"synchronize_session": False},
        )
    if outcome.pruned:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(outcome.pruned))
            .values(status=DeliveryStatus.PRUNED),
            execution_options={"synchronize_session": False},
        )
        session.execute(
            delete(Device).where(Device.id.in_([device_of[i] for i in outcome.pruned])),
            execution_options={"synchronize_session": False},
        )
    by_code: dict[str, list[int]] = {}
    for delivery_id, code in outcome.failed.items():
        by_code.setdefault(code, []).append(delivery_id)
    for code, ids in by_code.items():  # one statement per error, not per device
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(status=DeliveryStatus.FAILED, error=code),
            execution_options={"synchronize_session": False},
        )
    session.commit()  # recorded: a retry of this job no longer finds this batch
    return len(outcome.sent)


@tenant_job(queue="default", plugin="push")
def push_points_received(session: Session, tenant: Tenant, entry_ids: list[int]) -> int:
    """For each of many credits written together (a file of points), the push
    `entry_recorded` queues for one: the same job and key, for members who want it."""
    from plugins.push.messages import TOPIC

    queued = 0
    for entry in session.scalars(
        select(Entry).where(Entry.id.in_(entry_ids), Entry.points > 0).order_by(Entry.id)
    ):
        member = session.get(Membership, entry.member_id)
        if member is None or not wants_push(member.customer, TOPIC["points_received"]):
            continue
        enqueue(
            None,
            push_member,
            tenant.id,
            member.id,
            f"points:{entry.id}",
            TOPIC["points_received"],
            "points_received",
            {"entry_id": entry.id},
        )
        queued += 1
    return queued


@tenant_job(queue="default", plugin="push")
def push_member(
    session: Session,
    tenant: Tenant,
    member_id: int,
    key: str,
    topic: str,
    message: str,
    data: dict,
) -> int:
    """A transactional push to one member's devices, once per key, in their language."""
    from plugins.push import messages

    content = messages.compose(session, tenant, member_id, message, data)
    if content is None:
        return 0
    title, body, link = content
    send = sends.transactional(session, member_id, key, topic, title, body, link)
    if send is None:
        return 0
    batches = sends.start(session, tenant, send.id)
    session.commit()
    return _queue_batches(tenant, send.id, batches)
