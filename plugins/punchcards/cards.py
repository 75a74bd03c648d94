"""Punch cards: matching line items punch the member's card; a full card issues a prize.

* Each line whose `sku` (or `product_group`) is a card's punches it once per
  unit: a purchase of 20 coffees on a 10-coffee card completes two cards.
  Punches beyond a full card carry over to the next one ("7 of 10" + 5 →
  one prize and "2 of 10").
* A prize is a `punchcards_prizes` row (issued → claimed by staff with
  `claim_prize`); it is neither points nor a core `Reward`, which would cost
  points. Members and staff see `progress` and `prizes`.
* Returning a purchase takes its punches back: first from the current card,
  then by cancelling unclaimed prizes of that card (newest first), each
  giving back its card's punches. If the prizes were already handed over,
  what cannot be taken back is recorded on the purchase's punch row
  (`punches_not_recovered`) and forgiven, never owed, like the points of a
  returned purchase that were already spent. A part of a purchase returned by
  lines (`unpunch_lines`) takes back those lines' punches the same way.

Everything runs inside the purchase's transaction (the ledger holds the
member's row lock), so one member's punches are never counted twice.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, NamedTuple

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.sdk import Actor, Conflict, Membership, NotFound, Purchase, load_settings, utcnow
from plugins.punchcards.models import Counter, Prize, PrizeStatus, Punch
from plugins.punchcards.settings import PunchcardSettings

NAMESPACE = "punchcards"


class PrizeClaimed(Conflict):
    reason = "prize_claimed"
    message = _l("This prize was already handed over.")


class PrizeCancelled(Conflict):
    reason = "prize_cancelled"
    message = _l("This prize was cancelled: its purchase was returned.")


class Progress(NamedTuple):
    name: str
    count: int
    size: int


def cards(session: Session) -> list[dict[str, Any]]:
    """The merchant's active cards, as in the settings."""
    settings = load_settings(session, NAMESPACE, PunchcardSettings)
    return [card for card in settings["cards"] if card["active"]]


def progress(session: Session, member: Membership) -> list[Progress]:
    """Each active card with the member's punches towards its next prize ("7 of 10")."""
    counts = dict(
        session.execute(
            select(Counter.card, Counter.progress).where(Counter.member_id == member.id)
        ).all()
    )
    return [
        Progress(card["name"], counts.get(card["key"], 0), card["size"]) for card in cards(session)
    ]


def prizes(session: Session, member: Membership, *, status: str | None = None) -> list[Prize]:
    """The member's prizes, newest first (only `status` ones if given)."""
    query = select(Prize).where(Prize.member_id == member.id)
    if status is not None:
        query = query.where(Prize.status == status)
    return list(session.scalars(query.order_by(Prize.id.desc())))


def get_prize(session: Session, prize_id: int) -> Prize:
    prize = session.get(Prize, prize_id) if isinstance(prize_id, int) else None
    if prize is None:
        raise NotFound(_l("There is no such prize."))
    return prize


def claim_prize(
    session: Session, prize: Prize, *, actor: Actor, location_id: int | None = None
) -> Prize:
    """Staff hand a prize over. Conflict if it was already handed over or cancelled
    (a conditional UPDATE: two tills claiming it at once, one wins)."""
    claimed = session.execute(
        update(Prize)
        .where(Prize.id == prize.id, Prize.status == PrizeStatus.ISSUED)
        .values(
            status=PrizeStatus.CLAIMED,
            decided_at=utcnow(),
            claimed_by_kind=actor.kind,
            claimed_by_id=actor.id,
            location_id=location_id,
        )
        .execution_options(synchronize_session="fetch")
    ).rowcount
    prize = session.get(Prize, prize.id, populate_existing=True)  # this tenant's, afresh
    if prize is None:
        raise NotFound(_l("There is no such prize."))
    if not claimed:
        raise PrizeClaimed() if prize.status == PrizeStatus.CLAIMED else PrizeCancelled()
    return prize


# --- the purchase hooks ----------------------------------------------------------


def punch(session: Session, member: Membership, purchase: Purchase) -> list[Prize]:
    """Punch the member's cards for a purchase's line items; returns the prizes issued."""
    quantities: dict[str, int] = defaultdict(int)
    by_key = {}
    for card in cards(session):
        by_key[card["key"]] = card
        for line in purchase.lines:
            if (card["sku"] is not None and line.sku == card["sku"]) or (
                card["product_group"] is not None and line.product_group == card["product_group"]
            ):
                quantities[card["key"]] += line.quantity
    issued: list[Prize] = []
    for key, punches in quantities.items():
        card = by_key[key]
        counter = _counter(session, member.id, key)
        counter.progress += punches
        full, counter.progress = divmod(counter.progress, card["size"])
        counter.updated_at = utcnow()
        session.add(
            Punch(
                purchase_id=purchase.id, member_id=member.id, card=key, punches=punches, prizes=full
            )
        )
        issued += [
            Prize(
                member_id=member.id,
                card=key,
                card_name=card["name"],
                name=card["prize"],
                size=card["size"],
                purchase_id=purchase.id,
            )
            for _ in range(full)
        ]
    session.add_all(issued)
    session.flush()
    return issued


def unpunch(session: Session, member: Membership, purchase: Purchase) -> None:
    """Take a returned purchase's punches back (see the module's docstring)."""
    rows = session.scalars(
        select(Punch).where(Punch.purchase_id == purchase.id, Punch.returned_at.is_(None))
    ).all()
    for row in rows:
        left = _take_back(session, member.id, row.card, row.punches)
        row.returned_at = utcnow()
        row.punches_not_recovered = (row.punches_not_recovered or 0) + left
    session.flush()


def unpunch_lines(
    session: Session, member: Membership, purchase: Purchase, lines: list[dict[str, int]]
) -> None:
    """Take back the punches of a purchase's lines returned in part (`lines`:
    [{"line_id", "quantity"}]); the row keeps the punches not returned yet."""
    returned = {item["line_id"]: item["quantity"] for item in lines}
    if not returned:
        return
    rows = {
        row.card: row
        for row in session.scalars(
            select(Punch).where(Punch.purchase_id == purchase.id, Punch.returned_at.is_(None))
        )
    }
    for card in cards(session):
        row = rows.get(card["key"])
        if row is None:
            continue
        quantity = sum(
            returned.get(line.id, 0)
            for line in purchase.lines
            if (card["sku"] is not None and line.sku == card["sku"])
            or (card["product_group"] is not None and line.product_group == card["product_group"])
        )
        quantity = min(quantity, row.punches)
        if not quantity:
            continue
        left = _take_back(session, member.id, row.card, quantity)
        row.punches_not_recovered = (row.punches_not_recovered or 0) + left
        if quantity == row.punches:
            row.returned_at = utcnow()  # every punch of it came back (punches stays > 0)
        else:
            row.punches -= quantity
    session.flush()


def _take_back(session: Session, member_id: int, card: str, punches: int) -> int:
    """Take `punches` back from the member's card: from the current card first, then
    by cancelling unclaimed prizes; the punches that could not be taken back."""
    counter = _counter(session, member_id, card)
    left = punches
    taken = min(left, counter.progress)
    counter.progress -= taken
    left -= taken
    while left:
        size = _cancel_newest_prize(session, member_id, card)
        if size is None:  # every prize of this card was handed over
            break
        taken = min(left, size)
        counter.progress += size - taken
        left -= taken
    counter.updated_at = utcnow()
    return left


def _cancel_newest_prize(session: Session, member_id: int, card: str) -> int | None:
    """Cancel the member's newest unclaimed prize of `card`; its size, or None if none."""
    candidates = session.execute(
        select(Prize.id, Prize.size)
        .where(Prize.member_id == member_id, Prize.card == card, Prize.status == PrizeStatus.ISSUED)
        .order_by(Prize.id.desc())
    ).all()
    for prize_id, size in candidates:
        # Conditional: a till may be handing this prize over right now.
        cancelled = session.execute(
            update(Prize)
            .where(Prize.id == prize_id, Prize.status == PrizeStatus.ISSUED)
            .values(status=PrizeStatus.CANCELLED, decided_at=utcnow())
            .execution_options(synchronize_session="fetch")
        ).rowcount
        if cancelled:
            return size
    return None


def _counter(session: Session, member_id: int, card: str) -> Counter:
    counter = session.scalar(
        select(Counter).where(Counter.member_id == member_id, Counter.card == card)
    )
    if counter is None:  # the member's row is locked by the purchase: no twin insert
        counter = Counter(member_id=member_id, card=card, progress=0)
        session.add(counter)
    return counter
