"""Things the webhooks tests do: give points (an event), read what the receiver got."""

from __future__ import annotations

import json
from typing import Any

from core.host.actors import Actor
from core.loyalty.ledger import earn, lock_member


def give(db, tenant, member, points: int = 10) -> int:
    """Give `member` points (committed): a points.earned event. The entry's id."""
    with db(tenant) as session:
        entry = earn(session, lock_member(session, member.id), points=points, actor=Actor.system())
        session.commit()
        return entry.id


def received(server) -> list[tuple[dict[str, str], Any]]:
    """(lower-cased headers, body as JSON) of every request the receiver got."""
    return [
        ({k.lower(): v for k, v in request.headers.items()}, json.loads(request.get_data()))
        for request, _response in server.log
    ]


def text_of(message) -> str:
    """The plain text part of an e-mail."""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    return ""
