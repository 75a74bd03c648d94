"""Rewards (the catalogue) and redemptions of them.

Staff redeem at once (confirmed). A customer's request holds the points until
staff confirm it (the stock goes down then) or cancel it (the points come
back); the customer may withdraw their own pending request. Stock never goes
below zero: it is decremented by a conditional UPDATE.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    CheckConstraint,
    Index,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, lazyload, mapped_column, relationship
from sqlalchemy.orm.attributes import set_committed_value

from core.host.actors import Actor
from core.host.db import Base, TenantOwned, tenant_fk, tenant_key, utcnow
from core.host.errors import (
    Conflict,
    Forbidden,
    IdempotencyMismatch,
    InsufficientPoints,
    InvalidInput,
    NotFound,
    OutOfStock,
)
from core.host.events import announce
from core.loyalty import ledger
from core.loyalty.members import Membership
from core.loyalty.program import MAX_POINTS_PER_OPERATION, get_program


class Status(enum.StrEnum):
    """A redemption is requested (pending), confirmed, or cancelled (its points refunded)."""

    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


# Ids are INTEGER columns: a larger one names nothing (and never reaches the database).
MAX_ID = 2**31 - 1


class Reward(TenantOwned, Base):
    """A reward in the merchant's catalogue: its points, stock (None: unlimited) and image."""

    __tablename__ = "rewards"
    __table_args__ = (
        tenant_key(),
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(160))
    description: Mapped[str | None] = mapped_column(Text)
    image: Mapped[str | None] = mapped_column(String(500))
    points: Mapped[int]
    stock: Mapped[int | None]  # None: unlimited
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Redemption(TenantOwned, Base):
    """A member's redemption of a reward: at once by staff, or a customer's request to confirm or
    cancel."""

    __tablename__ = "redemptions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        tenant_fk("member_id", "memberships"),
        tenant_fk("reward_id", "rewards"),
        tenant_fk("entry_id", "ledger_entries"),
        tenant_fk("refund_entry_id", "ledger_entries"),
        tenant_fk("location_id", "locations"),
        Index("ix_redemptions_member_id", "member_id"),
        Index("ix_redemptions_reward_id", "reward_id"),
        Index("ix_redemptions_entry_id", "entry_id"),  # activity: the request an entry paid
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int]
    reward_id: Mapped[int]
    points: Mapped[int]
    status: Mapped[str] = mapped_column(String(12), index=True)
    entry_id: Mapped[int]
    refund_entry_id: Mapped[int | None]
    requested_by_kind: Mapped[str] = mapped_column(String(12))
    requested_by_id: Mapped[int | None]
    decided_by_kind: Mapped[str | None] = mapped_column(String(12))
    decided_by_id: Mapped[int | None]
    location_id: Mapped[int | None]
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]

    reward: Mapped[Reward] = relationship(lazy="joined", viewonly=True)
    member: Mapped[Membership] = relationship(lazy="joined", viewonly=True)


def _validate(name: str | None, points: int | None, stock: int | None) -> None:
    errors = {}
    if name is not None and not name.strip():
        errors["name"] = _l("The name is required.")
    if points is not None and (
        isinstance(points, bool)
        or not isinstance(points, int)
        or not 0 < points <= MAX_POINTS_PER_OPERATION
    ):
        errors["points"] = _l("The points must be a whole number greater than zero.")
    if stock is not None and (isinstance(stock, bool) or not isinstance(stock, int) or stock < 0):
        errors["stock"] = _l("The stock must be zero or more (empty for unlimited).")
    if errors:
        raise InvalidInput(**errors)


def create_reward(
    session: Session,
    *,
    name: str,
    points: int,
    stock: int | None = None,
    description: str | None = None,
    image: str | None = None,
    active: bool = True,
) -> Reward:
    """Add a reward to the catalogue (InvalidInput on a bad name, points or stock)."""
    _validate(name, points, stock)
    reward = Reward(
        name=name.strip(),
        points=points,
        stock=stock,
        description=description,
        image=image,
        active=active,
    )
    session.add(reward)
    session.flush()
    return reward


def update_reward(session: Session, reward: Reward, **changes: object) -> Reward:
    """Change a reward's name, points, stock, description, image or active flag (InvalidInput on
    anything else)."""
    allowed = {"name", "points", "stock", "description", "image", "active"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(**{name: _l("Unknown field.") for name in unknown})
    _validate(changes.get("name"), changes.get("points"), changes.get("stock"))
    for name, value in changes.items():
        setattr(reward, name, value.strip() if name == "name" else value)
    session.flush()
    return reward


def get_reward(session: Session, reward_id: int) -> Reward:
    """A reward of the session's tenant by id (NotFound otherwise)."""
    reward = session.get(Reward, reward_id) if 0 < reward_id <= MAX_ID else None
    if reward is None:
        raise NotFound(_l("No reward with this id."))
    return reward


def get_redemption(session: Session, redemption_id: int) -> Redemption:
    """A redemption of the session's tenant by id (NotFound otherwise)."""
    redemption = session.get(Redemption, redemption_id) if 0 < redemption_id <= MAX_ID else None
    if redemption is None:
        raise NotFound(_l("No redemption with this id."))
    return redemption


def active_rewards(session: Session) -> list[Reward]:
    """The rewards on offer, cheapest first."""
    return list(
        session.scalars(select(Reward).where(Reward.active.is_(True)).order_by(Reward.points))
    )


@dataclass(frozen=True)
class Offer:
    """A reward as a member sees it: the points they still miss, whether any is left."""

    reward: Reward
    missing: int
    in_stock: bool

    @property
    def within_reach(self) -> bool:
        """Enough points and stock: the member could have it now."""
        return self.missing == 0 and self.in_stock


def offers(session: Session, member: Membership | None) -> list[Offer]:
    """The rewards on offer, cheapest first, with what `member` (None: not a member yet,
    no points) still misses for each. Held points (pending requests) are already off
    the balance, so they never count twice."""
    balance = member.balance if member is not None else 0
    return [
        Offer(reward, max(0, reward.points - balance), reward.stock is None or reward.stock > 0)
        for reward in active_rewards(session)
    ]


def requests_of(session: Session, member: Membership) -> list[Redemption]:
    """The member's own requests from the app, newest first (staff hand-overs are in
    their history)."""
    return list(
        session.scalars(
            select(Redemption)
            .where(Redemption.member_id == member.id, Redemption.requested_by_kind == "customer")
            .order_by(Redemption.id.desc())
        )
    )


def redeem_reward(
    session: Session,
    member: Membership,
    reward: Reward,
    *,
    actor: Actor,
    location_id: int | None = None,
    idempotency_key: str | None = None,
    live_code: bool | None = None,
) -> Redemption:
    """Staff hand over a reward: points and stock go down at once.

    A till door (the panel, the POS API) says whether the member showed the app's live
    QR (`live_code`); where the merchant requires it, a static code is refused
    (LiveCodeRequired). None: no till, nothing to check."""
    if live_code is False and get_program(session)["live_code_for_redemptions"]:
        raise LiveCodeRequired()
    return _redeem(session, member, reward, actor, location_id, idempotency_key, confirm=True)


class LiveCodeRequired(Forbidden):
    """A redemption at the till with the static code where the merchant requires the
    app's live QR (403)."""

    reason = "live_code_required"
    message = _l("This merchant redeems rewards only with the live QR of the customer's app.")


def request_reward(
    session: Session,
    member: Membership,
    reward: Reward,
    *,
    idempotency_key: str | None = None,
) -> Redemption:
    """A customer asks for a reward from their app: the points are held until staff decide."""
    if not get_program(session)["customer_redemption_requests"]:
        raise Conflict(_l("This merchant does not take reward requests from the app."))
    actor = Actor.customer(member.customer_id)
    try:
        return _redeem(session, member, reward, actor, None, idempotency_key, confirm=False)
    except InsufficientPoints:
        # The ledger speaks to staff ("the customer"); this is the customer asking.
        raise InsufficientPoints(_l("You do not have enough points for this reward yet.")) from None


def withdraw_request(session: Session, member: Membership, redemption_id: int) -> Redemption:
    """The customer cancels their own pending request: the points go back into the lots
    they came from. NotFound for anyone else's request; an already cancelled one is
    returned as it is (a double tap); a confirmed one is a Conflict."""
    redemption = get_redemption(session, redemption_id)
    if redemption.member_id != member.id or redemption.requested_by_kind != "customer":
        raise NotFound(_l("No redemption with this id."))
    redemption = _lock(session, redemption.id)  # a twin tap waits here, then sees it done
    if redemption.status == Status.CANCELLED:
        return redemption
    return cancel(session, redemption, actor=Actor.customer(member.customer_id))


def confirm(session: Session, redemption: Redemption, *, actor: Actor) -> Redemption:
    """Confirm a customer's pending request, taking one from the reward's stock (Conflict unless
    pending)."""
    redemption = _lock(session, redemption.id)
    if redemption.status != Status.REQUESTED:
        raise Conflict(_l("Only a pending request can be confirmed."))
    _take_stock(session, redemption.reward)
    return _decide(session, redemption, Status.CONFIRMED, actor)


def cancel(session: Session, redemption: Redemption, *, actor: Actor) -> Redemption:
    """Cancel a customer's pending request and refund its points (Conflict unless pending)."""
    redemption = _lock(session, redemption.id)
    if redemption.status != Status.REQUESTED:
        raise Conflict(_l("Only a pending request can be cancelled."))
    entry = session.get(ledger.Entry, redemption.entry_id)
    refund = ledger.refund(session, entry, actor=actor)
    redemption.refund_entry_id = refund.id
    return _decide(session, redemption, Status.CANCELLED, actor)


def _redeem(session, member, reward, actor, location_id, key, *, confirm: bool) -> Redemption:
    ledger.stored_key(key)  # the same rules as any idempotency key
    existing = _by_key(session, key, member, reward)
    if existing is not None:
        return existing
    if not reward.active:
        raise Conflict(_l("This reward is not available."))
    if reward.stock is not None and reward.stock <= 0:
        raise OutOfStock()
    entry = ledger.redeem(
        session,
        member,
        reward.points,
        actor=actor,
        location_id=location_id,
        description=reward.name,
        idempotency_key=ledger.system_key("redemption", key) if key else None,
    )
    # The ledger locked the member: a concurrent twin of this request has committed by now.
    existing = _by_key(session, key, member, reward)
    if existing is not None:
        return existing
    if confirm:
        _take_stock(session, reward)
    redemption = Redemption(
        member_id=member.id,
        reward_id=reward.id,
        points=reward.points,
        status=Status.CONFIRMED if confirm else Status.REQUESTED,
        entry_id=entry.id,
        requested_by_kind=actor.kind,
        requested_by_id=actor.id,
        location_id=location_id,
        idempotency_key=key,
    )
    if confirm:
        redemption.decided_by_kind, redemption.decided_by_id = actor.kind, actor.id
        redemption.decided_at = utcnow()
    session.add(redemption)
    session.flush()
    announce(session, "redemption_changed", redemption=redemption)
    return redemption


@functools.cache
def _redemption_by_key() -> Any:
    # Built once (at first use, when every model is mapped): every redemption looks for
    # an earlier one with its key, twice (before the ledger's lock and under it).
    # Without the reward, the member and its account joined: a redemption written now
    # has them unloaded too, and a replay loads them if asked.
    return (
        select(Redemption)
        .where(Redemption.idempotency_key == bindparam("key"))
        .options(lazyload(Redemption.reward), lazyload(Redemption.member))
    )


def _by_key(session, key, member, reward) -> Redemption | None:
    if key is None:
        return None
    found = session.scalar(_redemption_by_key(), {"key": key})
    if found is not None and (found.member_id, found.reward_id) != (member.id, reward.id):
        raise IdempotencyMismatch()
    return found


@functools.cache
def _take_stock_statement() -> Any:
    # Built once (and so scoped to the tenant once; at first use, when every model is
    # mapped), with the stock it leaves returned: the session's reward is told it, as
    # a fetch would, without a statement of its own.
    return (
        update(Reward)
        .where(Reward.id == bindparam("reward_id"), Reward.stock.is_(None) | (Reward.stock > 0))
        .values(stock=Reward.stock - 1)
        .returning(Reward.stock)
        .execution_options(synchronize_session=False)
    )


@functools.cache
def _stock_statement() -> Any:
    return select(Reward.stock).where(Reward.id == bindparam("reward_id"))  # built once


def _take_stock(session: Session, reward: Reward) -> None:
    # Unlimited (asked again, a read that locks nothing: `reward` may have been read
    # before a stock was set): nothing to take, and no write on the reward's row, which
    # would lock it until the commit, every till redeeming it queued behind.
    params = {"reward_id": reward.id}
    if reward.stock is None and session.scalar(_stock_statement(), params) is None:
        return
    taken = session.execute(_take_stock_statement(), params).first()
    if taken is None:
        raise OutOfStock()
    set_committed_value(reward, "stock", taken.stock)


def _lock(session: Session, redemption_id: int) -> Redemption:
    return session.execute(
        select(Redemption)
        .where(Redemption.id == redemption_id)
        .with_for_update(of=Redemption)
        .execution_options(populate_existing=True)
    ).scalar_one()


def _decide(session, redemption: Redemption, status: Status, actor) -> Redemption:
    redemption.status = status
    redemption.decided_by_kind, redemption.decided_by_id = actor.kind, actor.id
    redemption.decided_at = utcnow()
    session.flush()
    announce(session, "redemption_changed", redemption=redemption)
    return redemption
