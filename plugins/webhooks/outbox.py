"""Publishing an event: its message written once (its body and id fixed for every
retry) with a delivery for each of the merchant's endpoints that wants it, committed,
and then one job per delivery on the `webhooks` queue. Nothing is written for a
merchant with no endpoint that wants the event, and nothing is read either
(`subscriptions`)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.sdk import Tenant, current_platform, enqueue, session_tenant_id, tenant_session, utcnow
from plugins.webhooks import jobs, signing, subscriptions
from plugins.webhooks.events import TEST, envelope
from plugins.webhooks.models import Delivery, DeliveryStatus, Endpoint, Message

KEY_MAX = 120


def publish(
    tenant: Tenant,
    event: str,
    key: str | None,
    data: Callable[[Session], dict[str, Any]],
    member_id: int | None = None,
) -> Message | None:
    """Send `event` to the tenant's endpoints that want it; `data(session)` builds its
    `data`. `key` names the event: published again (an announcement repeated), it is the
    same message, sent once. None when no endpoint wants it."""
    if event not in subscriptions.wanted(tenant.id):
        return None
    with tenant_session(current_platform().sessions, tenant.id) as session:
        wanted = [
            endpoint
            for endpoint in session.scalars(select(Endpoint).where(Endpoint.enabled.is_(True)))
            if event in endpoint.events
        ]
        if not wanted:
            return None
        key = (key or f"{event}:{secrets.token_hex(8)}")[:KEY_MAX]
        if session.scalar(select(Message.id).where(Message.key == key)) is not None:
            return None
        try:
            message = write(session, wanted, event, key, data(session), member_id)
            session.commit()
        except IntegrityError:  # the same event published at the same time: once
            session.rollback()
            return None
        return message


def write(
    session: Session,
    endpoints: list[Endpoint],
    event: str,
    key: str,
    data: dict[str, Any],
    member_id: int | None = None,
) -> Message:
    """The message and its deliveries, each job queued once the session commits."""
    now = utcnow()
    message = Message(
        uid=signing.new_message_id(),
        key=key,
        event=event,
        member_id=member_id,
        body=json.dumps(envelope(event, data, now), ensure_ascii=False, separators=(",", ":")),
        created_at=now,
    )
    session.add(message)
    session.flush()
    for endpoint in endpoints:
        delivery = Delivery(
            endpoint_id=endpoint.id,
            message_id=message.id,
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_at=now + jobs.LEASE,  # the job's; the tick queues it again if lost
            created_at=now,
        )
        session.add(delivery)
        session.flush()
        enqueue(session, jobs.deliver, session_tenant_id(session), delivery.id, 0)
    return message


def send_test(session: Session, endpoint: Endpoint) -> Message:
    """A test event for this one endpoint (on or off: the merchant is trying it)."""
    data = {"endpoint_id": endpoint.id, "message": gettext("This is a test event from Premia.")}
    return write(session, [endpoint], TEST.name, f"test:{secrets.token_hex(8)}", data)
