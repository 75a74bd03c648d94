"""Delivering: one job per delivery attempt on the `webhooks` queue (a slow receiver
holds up only webhooks, never a sale, e-mail or another queue's work).

A job takes its attempt first (a conditional UPDATE, committed before the request goes
out), so a job queued twice sends once; the request is made with no transaction open;
its outcome is logged. A failure (no answer, a timeout, anything but a 2xx) is tried
again after an exponential backoff, 1 minute doubling 12 times: about 2.8 days in all,
13 attempts. When the last one fails and the endpoint has had no success since that
delivery began, the endpoint is switched off and the merchant e-mailed.

The scheduler's tick (every 30 s) queues the attempts that are due; an attempt whose
job was lost (Redis flushed, a worker killed) is due again once its lease passes."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import and_, exists, select, update
from sqlalchemy.orm import Session

from core.sdk import (
    Role,
    StaffUser,
    Tenant,
    build_message,
    current_platform,
    enqueue,
    external_url,
    platform_session,
    render_mail,
    send_mail,
    tenant_job,
    utcnow,
)
from plugins.webhooks import endpoints, signing, transport
from plugins.webhooks.events import TEST
from plugins.webhooks.models import Attempt, Delivery, DeliveryStatus, Endpoint, Message

log = logging.getLogger(__name__)

BACKOFF = tuple(timedelta(minutes=2**n) for n in range(12))  # 1 min … 34 h 8 min
ATTEMPTS = len(BACKOFF) + 1
LEASE = timedelta(minutes=5)  # far beyond one request's timeouts
TICK_BATCH = 1000


@tenant_job(queue="webhooks", plugin="webhooks")
def deliver(session: Session, tenant: Tenant, delivery_id: int, attempt: int) -> bool | None:
    """Attempt number `attempt` (0 the first) of a delivery; True on a 2xx, None when
    there was nothing to do (sent already, given up, or taken by a twin job)."""
    moment = utcnow()
    taken = session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.attempts == attempt,
        )
        .values(attempts=attempt + 1, next_at=moment + LEASE),
        execution_options={"synchronize_session": False},
    ).rowcount
    if not taken:
        return None
    delivery = session.get(Delivery, delivery_id)
    endpoint = session.get(Endpoint, delivery.endpoint_id)
    message = session.get(Message, delivery.message_id)
    if not endpoint.enabled and message.event != TEST.name:  # a test tries a switched-off one
        delivery.status, delivery.next_at = DeliveryStatus.FAILED, None
        return None
    url, secret, uid, body = endpoint.url, endpoint.secret, message.uid, message.body
    session.commit()  # taken: a twin job finds it so; no transaction held while sending
    timestamp = int(moment.timestamp())
    answer = transport.post(url, body, signing.headers(secret, uid, timestamp, body))
    delivery = session.get(Delivery, delivery_id, populate_existing=True)
    if delivery is None:  # its endpoint was deleted meanwhile
        return None
    session.add(
        Attempt(
            delivery_id=delivery_id,
            at=moment,
            timestamp=timestamp,
            status_code=answer.status,
            response=answer.body,
            error=answer.error[:200] if answer.error else None,
            duration_ms=answer.duration_ms,
        )
    )
    if delivery.attempts != attempt + 1 or delivery.status != DeliveryStatus.PENDING:
        return answer.ok  # re-sent or given up meanwhile: its schedule is another's now
    if answer.ok:
        delivery.status, delivery.next_at = DeliveryStatus.SUCCEEDED, None
        return True
    if delivery.attempts < ATTEMPTS:
        delivery.next_at = moment + BACKOFF[delivery.attempts - 1]
        return False
    delivery.status, delivery.next_at = DeliveryStatus.FAILED, None
    session.flush()
    if not _succeeded_since(session, delivery):
        _give_up(session, tenant, delivery.endpoint_id)
    return False


def _succeeded_since(session: Session, delivery: Delivery) -> bool:
    """Whether the endpoint answered any delivery with a 2xx since this one began."""
    return bool(
        session.scalar(
            select(
                exists().where(
                    Attempt.delivery_id == Delivery.id,
                    Delivery.endpoint_id == delivery.endpoint_id,
                    Attempt.at >= delivery.created_at,
                    Attempt.status_code >= 200,
                    Attempt.status_code < 300,
                )
            )
        )
    )


def _give_up(session: Session, tenant: Tenant, endpoint_id: int) -> None:
    endpoint = session.get(Endpoint, endpoint_id)
    if not endpoint.enabled:
        return
    endpoints.switch(session, endpoint, False, "failing")
    log.warning("webhooks: endpoint %s of %s switched off after failing", endpoint.id, tenant.slug)
    enqueue(session, mail_disabled, tenant.id, endpoint.id)


@tenant_job(queue="mail", plugin="webhooks")
def mail_disabled(session: Session, tenant: Tenant, endpoint_id: int) -> int:
    """Tell the merchant (its owners, and its contact address) that an endpoint was
    switched off after days of failures; how many e-mails were sent."""
    endpoint = session.get(Endpoint, endpoint_id)
    if endpoint is None:
        return 0
    owners = session.scalars(
        select(StaffUser.email)
        .where(StaffUser.role == Role.OWNER, StaffUser.active.is_(True))
        .order_by(StaffUser.id)
    ).all()
    addresses = list(dict.fromkeys([*owners, *([tenant.email] if tenant.email else [])]))
    subject, text, html = render_mail(
        tenant,
        "webhooks/mail/disabled",
        None,  # the merchant's language
        endpoint=endpoint,
        days=round(sum(BACKOFF, timedelta()).total_seconds() / 86400, 1),
        page_url=external_url("t.webhooks.detail", tenant, endpoint_id=endpoint.id),
    )
    for address in addresses:
        send_mail(build_message(tenant, address, subject, text, html))
    return len(addresses)


def tick() -> int:
    """Queue every attempt that is due, across merchants (the scheduler, every 30 s)."""
    moment = utcnow()
    with platform_session(current_platform().sessions) as session:
        due = session.execute(
            select(Delivery.tenant_id, Delivery.id, Delivery.attempts)
            .where(and_(Delivery.status == DeliveryStatus.PENDING, Delivery.next_at <= moment))
            .order_by(Delivery.next_at)
            .limit(TICK_BATCH)
        ).all()
        if due:
            # Leased: the next tick leaves them to the jobs queued now.
            session.execute(
                update(Delivery)
                .where(Delivery.id.in_([row.id for row in due]))
                .values(next_at=moment + LEASE),
                execution_options={"synchronize_session": False},
            )
        session.commit()
    for tenant_id, delivery_id, attempts in due:
        enqueue(None, deliver, tenant_id, delivery_id, attempts)
    return len(due)


def resend(session: Session, delivery: Delivery) -> None:
    """Send a delivery again from the start of its schedule (the same message id, so a
    receiver that has it already knows it), once the session commits."""
    delivery.status, delivery.attempts = DeliveryStatus.PENDING, 0
    delivery.next_at = utcnow() + LEASE
    session.flush()
    enqueue(session, deliver, delivery.tenant_id, delivery.id, 0)
