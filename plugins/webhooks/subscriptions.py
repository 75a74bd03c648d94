"""Which events a merchant's endpoints want, kept per process for a few seconds: every
announcement (each earn, each purchase) asks, and most merchants have no endpoint, so
the answer costs no database round trip on the sale's path. This process forgets a
merchant's answer when one of its endpoints is written; other processes see the change
within `TTL` seconds (an event meanwhile for a just-deleted endpoint is given up by its
job; one for a just-created endpoint may be missed for that long)."""

from __future__ import annotations

import time

from flask import current_app
from sqlalchemy import select

from core.sdk import current_platform, tenant_session
from plugins.webhooks.models import Endpoint

TTL = 30.0
KEY = "premia_webhooks_subscriptions"
clock = time.monotonic  # tests move it


def _cache() -> dict[int, tuple[float, frozenset[str]]]:
    return current_app.extensions.setdefault(KEY, {})


def wanted(tenant_id: int) -> frozenset[str]:
    """The events at least one enabled endpoint of the merchant wants."""
    cache = _cache()
    found = cache.get(tenant_id)
    now = clock()
    if found is not None and found[0] > now:
        return found[1]
    with tenant_session(current_platform().sessions, tenant_id) as session:
        events = frozenset(
            event
            for events in session.scalars(select(Endpoint.events).where(Endpoint.enabled))
            for event in events
        )
    cache[tenant_id] = (now + TTL, events)
    return events


def forget(tenant_id: int) -> None:
    _cache().pop(tenant_id, None)
