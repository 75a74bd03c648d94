"""A member's program at a glance for the till: their tier, punch cards and packs.

Read through the plugins that keep them, where they are active for the merchant (the
same services their panel pages and the customer's card read)."""

from __future__ import annotations

from typing import Any

from flask import g

from core.sdk import Membership, current_platform, db
from plugins.packs import packs
from plugins.punchcards import cards
from plugins.punchcards.models import PrizeStatus
from plugins.tiers import services as tiers


def active(plugin: str) -> bool:
    """Whether `plugin` is on for the request's merchant (read once per request)."""
    if "api_active_plugins" not in g:
        g.api_active_plugins = current_platform().plugins.active(db(), g.tenant)
    return plugin in g.api_active_plugins


def customer_detail(member: Membership) -> dict[str, Any]:
    """The member's fields, and their tier, punch cards and usable packs."""
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
        "tier": None,
        "punch_cards": [],
        "prizes_waiting": 0,
        "packs": [],
    }
    if active("tiers"):
        status = tiers.member_tier(session, member)
        if status.tier is not None:
            detail["tier"] = {
                "code": status.tier.code,
                "name": status.tier.name,
                "since": status.since,
                "spend": status.spend,
                "next_tier": status.next_tier.name if status.next_tier else None,
                "to_next": status.to_next,
            }
    if active("punchcards"):
        detail["punch_cards"] = [card._asdict() for card in cards.progress(session, member)]
        detail["prizes_waiting"] = len(cards.prizes(session, member, status=PrizeStatus.ISSUED))
    if active("packs"):
        detail["packs"] = packs.packs_of(session, member, usable=True)
    return detail
