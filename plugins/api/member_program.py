"""A member's program at a glance for the till: their tier, punch cards and packs.

The plugins that keep them answer through `member_facts` where they are active for the
merchant; this API only declares the fields (its contract) and their empty values."""

from __future__ import annotations

from typing import Any

from core.sdk import Membership, current_platform, db

# What the answer says where no active plugin gives a field.
EMPTY_FACTS: dict[str, Any] = {"tier": None, "punch_cards": [], "prizes_waiting": 0, "packs": []}


def customer_detail(member: Membership) -> dict[str, Any]:
    """The member's fields, and what the active plugins add (`member_facts`)."""
    session = db()
    detail: dict[str, Any] = {
        "code": member.code,
        "customer": member.customer,
        "first_name": member.first_name,
        "last_name": member.last_name,
        "document_id": member.document_id,
        "phone": member.phone,
        "birthday": member.birthday,
        "balance": member.balance,
        "created_at": member.created_at,
        **EMPTY_FACTS,
    }
    for facts in current_platform().plugins.ask(session, "member_facts", member=member):
        # Only the fields the document declares: the contract, whatever a plugin adds.
        detail.update({k: v for k, v in (facts or {}).items() if k in EMPTY_FACTS})
    return detail
