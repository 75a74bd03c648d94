"""Punch cards: "every 10 coffees, a free toast".

Cards are defined in the merchant's settings (see `settings`); matching line
items of each purchase punch the member's card and each full card issues a
prize that staff hand over (`cards.claim_prize`). See `plugins.punchcards.cards`;
the panel's page is `panel.py`.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from core.sdk import Entry, Membership, MenuItem, PluginInfo, Purchase, SummaryLine, hookimpl
from plugins.punchcards import cards, panel
from plugins.punchcards.models import PrizeStatus
from plugins.punchcards.settings import PunchcardSettings

PLUGIN = PluginInfo(
    name="punchcards",
    sdk_version="1.6",
    title=_l("Punch cards"),
    description=_l("Every so many purchases of a product, a gift: every 10 coffees, a toast."),
    plans=("white-label",),
    settings_schema=PunchcardSettings,
)


@hookimpl
def purchase_recorded(
    session: Session, member: Membership, purchase: Purchase, entries: list[Entry]
) -> None:
    cards.punch(session, member, purchase)


@hookimpl
def purchase_returned(
    session: Session, member: Membership, purchase: Purchase, entry: Entry | None
) -> None:
    cards.unpunch(session, member, purchase)


@hookimpl
def purchase_partly_returned(
    session: Session, member: Membership, purchase: Purchase, returned: Any
) -> None:
    cards.unpunch_lines(session, member, purchase, returned.lines)


@hookimpl
def blueprints() -> list[Any]:
    return [panel.make_blueprint()]


@hookimpl
def member_actions(member: Membership) -> list[MenuItem]:
    return [MenuItem("t.punchcards.member_cards", _l("Punch cards"), values={"code": member.code})]


@hookimpl
def member_summary(session: Session, member: Membership) -> list[SummaryLine]:
    """Each card's progress ("Café: 7 de 10") and the prizes waiting to be handed over."""
    lines = [
        SummaryLine(card.name, _l("%(count)s of %(size)s", count=card.count, size=card.size))
        for card in cards.progress(session, member)
    ]
    waiting = len(cards.prizes(session, member, status=PrizeStatus.ISSUED))
    if waiting:
        lines.append(SummaryLine(_l("Prizes to hand over"), str(waiting)))
    return lines


@hookimpl
def member_facts(session: Session, member: Membership) -> dict[str, Any]:
    """For the POS API: each card's progress and how many prizes wait to be handed over."""
    return {
        "punch_cards": [card._asdict() for card in cards.progress(session, member)],
        "prizes_waiting": len(cards.prizes(session, member, status=PrizeStatus.ISSUED)),
    }


@hookimpl
def card_lines(session: Session, member: Membership) -> list[SummaryLine]:
    """On the member's card in the app: each card's stamps ("Café: 7 de 10 sellos")
    and each prize they can collect at the till."""
    lines = [
        SummaryLine(card.name, _l("%(count)s of %(size)s stamps", count=card.count, size=card.size))
        for card in cards.progress(session, member)
    ]
    lines.extend(
        SummaryLine(_l("Your prize is waiting"), prize.name)
        for prize in cards.prizes(session, member, status=PrizeStatus.ISSUED)
    )
    return lines
