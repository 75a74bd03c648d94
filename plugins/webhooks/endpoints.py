"""The merchant's endpoints: created with the events they want and a new secret (shown
once), changed, switched on and off, deleted; and their delivery log."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.sdk import Conflict, InvalidInput, NotFound, session_tenant_id
from plugins.webhooks import safety, signing, subscriptions
from plugins.webhooks.events import EVENTS
from plugins.webhooks.models import Attempt, Delivery, DeliveryStatus, Endpoint, Message

DESCRIPTION_MAX = 200
URL_MAX = safety.URL_MAX
MAX_ENDPOINTS = 20
MAX_ID = 2**31 - 1


def _plain(text: str) -> bool:
    """No control characters (C0, DEL) nor lone surrogates (PostgreSQL refuses NUL)."""
    return not any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in text)


def _url(url: str) -> str:
    if not isinstance(url, str) or not _plain(url):
        raise InvalidInput(url=_l("Write a full address, such as https://example.com/hooks."))
    safety.check_url(url, https_only=current_app.config["PREMIA_WEBHOOKS_HTTPS_ONLY"])
    return url.strip()


def _events(events: list[str] | None) -> list[str]:
    chosen = [e for e in dict.fromkeys(events or [])]
    if not chosen:
        raise InvalidInput(events=_l("Choose at least one event."))
    unknown = [e for e in chosen if e not in EVENTS]
    if unknown:
        raise InvalidInput(
            events=_l("Unknown event: %(events)s.", events=", ".join(map(str, unknown)))
        )
    return sorted(chosen)


def _description(text: str | None) -> str:
    text = (text or "").strip()
    if not _plain(text):
        raise InvalidInput(description=_l("Text cannot contain control characters."))
    if len(text) > DESCRIPTION_MAX:
        raise InvalidInput(description=_l("At most %(n)d characters.", n=DESCRIPTION_MAX))
    return text


def create(
    session: Session, url: str, events: list[str] | None, description: str | None = None
) -> Endpoint:
    """A new endpoint, on, with a new secret (the caller shows it once)."""
    errors = {}
    for field, check, value in (
        ("url", _url, url),
        ("events", _events, events),
        ("description", _description, description),
    ):
        try:
            check(value)
        except InvalidInput as error:
            errors[field] = error.fields[field]
    if errors:
        raise InvalidInput(**errors)
    if len(list_all(session)) >= MAX_ENDPOINTS:  # a state of the account, not of the input
        raise Conflict(_l("At most %(n)d endpoints.", n=MAX_ENDPOINTS))
    endpoint = Endpoint(
        url=_url(url),
        events=_events(events),
        description=_description(description),
        secret=signing.new_secret(),
        enabled=True,
    )
    session.add(endpoint)
    session.flush()
    subscriptions.forget(session_tenant_id(session))
    return endpoint


def get(session: Session, endpoint_id: int) -> Endpoint:
    """The session's tenant's endpoint (another merchant's id: NotFound)."""
    found = session.get(Endpoint, endpoint_id) if 0 < endpoint_id <= MAX_ID else None
    if found is None:
        raise NotFound(endpoint=_l("There is no such endpoint."))
    return found


def list_all(session: Session) -> list[Endpoint]:
    return list(session.scalars(select(Endpoint).order_by(Endpoint.id)))


def change(
    session: Session,
    endpoint_id: int,
    *,
    url: str | None = None,
    events: list[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> Endpoint:
    endpoint = get(session, endpoint_id)
    if url is not None:
        endpoint.url = _url(url)
    if events is not None:
        endpoint.events = _events(events)
    if description is not None:
        endpoint.description = _description(description)
    if enabled is not None:
        switch(session, endpoint, enabled, "staff")
    session.flush()
    subscriptions.forget(session_tenant_id(session))
    return endpoint


def switch(session: Session, endpoint: Endpoint, enabled: bool, reason: str) -> None:
    """On or off; switched off, its deliveries still waiting are given up (a re-send
    sends one again)."""
    if endpoint.enabled == enabled:
        return
    endpoint.enabled = enabled
    endpoint.disabled_reason = None if enabled else reason
    subscriptions.forget(session_tenant_id(session))
    if not enabled:
        session.execute(
            update(Delivery)
            .where(Delivery.endpoint_id == endpoint.id, Delivery.status == DeliveryStatus.PENDING)
            .values(status=DeliveryStatus.FAILED, next_at=None),
            execution_options={"synchronize_session": False},
        )


def delete(session: Session, endpoint_id: int) -> None:
    session.delete(get(session, endpoint_id))
    session.flush()
    subscriptions.forget(session_tenant_id(session))


@dataclass(frozen=True)
class LogLine:
    delivery: Delivery
    message: Message
    attempts: list[Attempt]


def log(session: Session, endpoint: Endpoint, limit: int = 50) -> list[LogLine]:
    """The endpoint's latest deliveries, newest first, each with its attempts."""
    rows = session.execute(
        select(Delivery, Message)
        .join(Message, Message.id == Delivery.message_id)
        .where(Delivery.endpoint_id == endpoint.id)
        .order_by(Delivery.id.desc())
        .limit(limit)
    ).all()
    ids = [delivery.id for delivery, _m in rows]
    attempts: dict[int, list[Attempt]] = {i: [] for i in ids}
    if ids:
        for attempt in session.scalars(
            select(Attempt).where(Attempt.delivery_id.in_(ids)).order_by(Attempt.id)
        ):
            attempts[attempt.delivery_id].append(attempt)
    return [LogLine(delivery, message, attempts[delivery.id]) for delivery, message in rows]


def delivery(session: Session, endpoint_id: int, delivery_id: int) -> Delivery:
    """One of the endpoint's deliveries (another's, or another merchant's: NotFound)."""
    endpoint = get(session, endpoint_id)
    found = session.get(Delivery, delivery_id) if 0 < delivery_id <= MAX_ID else None
    if found is None or found.endpoint_id != endpoint.id:
        raise NotFound(delivery=_l("There is no such delivery."))
    return found


def message_uid(session: Session, delivery: Delivery) -> str:
    return session.get(Message, delivery.message_id).uid
