"""Prepaid packs: sold to a member, used one at a time until used up or expired.

* `sell_pack` copies the type's name, uses and price; with `validity_days`
  the pack is usable through the local date of sale plus that many days (in
  the merchant's time zone) and expires at the following local midnight: a
  90-day pack sold on 1 June is usable through 30 August.
* `use_pack` takes one use with a conditional UPDATE (`uses_left > 0` and not
  expired), so concurrent uses of the last session leave exactly one
  winner and never a negative count; the database checks 0 ≤ uses_left ≤ uses
  as well. Each use is a `packs_uses` row with who, where, when and what was
  left. A use with an idempotency key is written once: a retry returns the
  first use.
* A used-up or expired pack is refused (PackUsedUp, PackExpired); its
  history stays visible (`uses_of`).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.sdk import (
    Actor,
    Conflict,
    IdempotencyMismatch,
    InvalidInput,
    Membership,
    NotFound,
    Tenant,
    load_settings,
    session_tenant_id,
    stored_key,
    utcnow,
)
from plugins.packs.models import Pack, PackUse
from plugins.packs.settings import PackSettings

NAMESPACE = "packs"


class PackUsedUp(Conflict):
    reason = "pack_used_up"
    message = _l("This pack has no uses left.")


class PackExpired(Conflict):
    reason = "pack_expired"
    message = _l("This pack has expired.")


def pack_types(session: Session) -> list[dict[str, Any]]:
    """The pack types on sale, as in the settings."""
    settings = load_settings(session, NAMESPACE, PackSettings)
    return [kind for kind in settings["types"] if kind["active"]]


def expiry(tenant: Tenant, sold_at: datetime, validity_days: int | None) -> datetime | None:
    """Local midnight after the last valid day (the sale's local date + validity_days)."""
    if validity_days is None:
        return None
    zone = ZoneInfo(tenant.timezone)
    last_day = sold_at.astimezone(zone).date() + timedelta(days=validity_days)
    return datetime.combine(last_day + timedelta(days=1), time(), tzinfo=zone)


def sell_pack(
    session: Session,
    member: Membership,
    type_key: str,
    *,
    actor: Actor,
    location_id: int | None = None,
    purchase_id: int | None = None,
    idempotency_key: str | None = None,
) -> Pack:
    """Sell a pack of the type `type_key` to a member. A retry with the same key returns
    the first pack (IdempotencyMismatch if it was for another member or type)."""
    key = stored_key(idempotency_key)
    existing = _sale_by_key(session, key, member, type_key)
    if existing is not None:
        return existing
    kind = next((t for t in pack_types(session) if t["key"] == type_key), None)
    if kind is None:
        raise InvalidInput(pack_type=_l("There is no such pack on sale."))
    tenant = session.get(Tenant, session_tenant_id(session))
    now = utcnow()
    pack = Pack(
        member_id=member.id,
        type_key=kind["key"],
        name=kind["name"],
        uses=kind["uses"],
        uses_left=kind["uses"],
        price=kind["price"],
        expires_at=expiry(tenant, now, kind["validity_days"]),
        sold_by_kind=actor.kind,
        sold_by_id=actor.id,
        location_id=location_id,
        purchase_id=purchase_id,
        idempotency_key=key,
        sold_at=now,
    )
    try:
        with session.begin_nested():
            session.add(pack)
            session.flush()
    except IntegrityError:  # a twin with this key committed first
        twin = _sale_by_key(session, key, member, type_key)
        if twin is None:
            raise
        return twin
    return pack


def use_pack(
    session: Session,
    pack: Pack,
    *,
    actor: Actor,
    location_id: int | None = None,
    idempotency_key: str | None = None,
) -> PackUse:
    """Record one use of a pack; PackUsedUp or PackExpired if it cannot be used."""
    key = stored_key(idempotency_key)
    existing = _use_by_key(session, key, pack)
    if existing is not None:
        return existing
    now = utcnow()
    try:
        with session.begin_nested():
            left = session.execute(
                update(Pack)
                .where(
                    Pack.id == pack.id,
                    Pack.uses_left > 0,
                    or_(Pack.expires_at.is_(None), Pack.expires_at > now),
                )
                .values(uses_left=Pack.uses_left - 1)
                .returning(Pack.uses_left)
                .execution_options(synchronize_session=False)
            ).scalar_one_or_none()
            if left is None:
                raise _Refused()
            use = PackUse(
                pack_id=pack.id,
                member_id=pack.member_id,
                actor_kind=actor.kind,
                actor_id=actor.id,
                location_id=location_id,
                uses_left=left,
                idempotency_key=key,
                used_at=now,
            )
            session.add(use)
            session.flush()
    except _Refused:
        current = get_pack(session, pack.id)
        if current.expires_at is not None and current.expires_at <= now:
            raise PackExpired() from None
        raise PackUsedUp() from None
    except IntegrityError:  # a twin with this key committed first; ours is undone
        twin = _use_by_key(session, key, pack)
        if twin is None:
            raise
        return twin
    session.refresh(pack)
    return use


def get_pack(session: Session, pack_id: int) -> Pack:
    pack = session.get(Pack, pack_id, populate_existing=True) if isinstance(pack_id, int) else None
    if pack is None:
        raise NotFound(_l("There is no such pack."))
    return pack


def packs_of(session: Session, member: Membership, *, usable: bool = False) -> list[Pack]:
    """The member's packs, newest first; only those with uses left and not expired
    if `usable`."""
    query = select(Pack).where(Pack.member_id == member.id)
    if usable:
        now = utcnow()
        query = query.where(
            Pack.uses_left > 0, or_(Pack.expires_at.is_(None), Pack.expires_at > now)
        )
    return list(session.scalars(query.order_by(Pack.id.desc())))


def uses_of(session: Session, pack: Pack) -> list[PackUse]:
    """A pack's history: each use, oldest first."""
    return list(
        session.scalars(select(PackUse).where(PackUse.pack_id == pack.id).order_by(PackUse.id))
    )


class _Refused(Exception):
    """Rolls back the savepoint of a use that found nothing to take."""


def _sale_by_key(
    session: Session, key: str | None, member: Membership, type_key: str
) -> Pack | None:
    if key is None:
        return None
    pack = session.scalar(select(Pack).where(Pack.idempotency_key == key))
    if pack is not None and (pack.member_id, pack.type_key) != (member.id, type_key):
        raise IdempotencyMismatch()
    return pack


def _use_by_key(session: Session, key: str | None, pack: Pack) -> PackUse | None:
    if key is None:
        return None
    use = session.scalar(select(PackUse).where(PackUse.idempotency_key == key))
    if use is not None and use.pack_id != pack.id:
        raise IdempotencyMismatch()
    return use
