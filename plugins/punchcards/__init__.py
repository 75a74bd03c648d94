"""Punch cards: "every 10 coffees, a free toast".

Cards are defined in the merchant's settings (see `settings`); matching line
items of each purchase punch the member's card and each full card issues a
prize that staff hand over (`cards.claim_prize`). See `plugins.punchcards.cards`.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from core.customers import Membership
from core.ledger import Entry
from core.plugins import PluginInfo, hookimpl
from core.purchases import Purchase
from plugins.punchcards import cards
from plugins.punchcards.settings import PunchcardSettings

PLUGIN = PluginInfo(
    name="punchcards",
    title=_l("Punch cards"),
    description=_l("Every so many purchases of a product, a gift: every 10 coffees, a toast."),
    plans=("white-label",),
    settings_schema=PunchcardSettings,
)


@hookimpl
def purchase_recorded(session: Session, member: Membership, purchase: Purchase,
                      entries: list[Entry]) -> None:
    cards.punch(session, member, purchase)


@hookimpl
def purchase_returned(session: Session, member: Membership, purchase: Purchase,
                      entry: Entry | None) -> None:
    cards.unpunch(session, member, purchase)
