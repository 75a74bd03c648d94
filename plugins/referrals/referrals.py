"""Referrals: each member's invite code, the friends who joined from it, and paying
the member (and optionally the friend) once per friend.

A friend is recorded when they become a *new* member of the merchant from an invite
link (`member_joined_from_link`): someone who already was a member never is. A friend
whose e-mail is the inviter's own (modulo case, and the dots and `+tags` that common
providers ignore) is recorded as refused. The paying event (`settings.pays_on`) is the
friend's first earned points, welcome points never counting, or their first purchase
of at least `min_purchase`: `settle` runs after each of the friend's credits commits,
takes the friend's, the referral's and the inviter's locks in that order (a return
takes them in the same order), and writes the credits with ledger keys per friend, so
twenty earns at once pay once. Beyond `monthly_cap` paid referrals in the inviter's
month (the merchant's time zone) a referral is refused. When the paying purchase is
returned within `return_days`, its referral points are taken back as far as unspent.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from core.sdk import (
    Actor,
    Entry,
    Kind,
    Membership,
    Purchase,
    PurchaseStatus,
    Tenant,
    Topic,
    earn,
    load_settings,
    lock_member,
    month_start,
    notify,
    redeem,
    system_key,
    utcnow,
)
from plugins.referrals.models import InviteCode, Reason, Referral, Status
from plugins.referrals.settings import FIRST_PURCHASE, ReferralSettings

KIND = "referral"  # the inviter's points
FRIEND_KIND = "referral_friend"  # the friend's
RETURN_KIND = "referral_return"  # taken back when the paying purchase is returned
ENTRY_KINDS = {
    KIND: _l("Referral points"),
    FRIEND_KIND: _l("Points for joining by invitation"),
    RETURN_KIND: _l("Referral points taken back"),
}
REASONS = {
    Reason.SELF: _l("The friend's e-mail is the inviter's own"),
    Reason.CAP: _l("The inviter had reached the month's cap"),
}
PAID = Topic("referral_paid", {"points": int, "friend": str})

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10  # 31^10, about 50 bits: nobody finds someone's link by guessing
VIA_PREFIX = "referrals:"
# Providers that ignore dots in the name part (Gmail) or deliver `+tags` to the name.
DOTLESS = {"gmail.com", "googlemail.com"}
TAGGED = DOTLESS | {
    "outlook.com",
    "hotmail.com",
    "live.com",
    "icloud.com",
    "proton.me",
    "protonmail.com",
    "yahoo.com",
    "fastmail.com",
}


def get_settings(session: Session) -> dict[str, Any]:
    return load_settings(session, "referrals", ReferralSettings())


# --- invite codes -------------------------------------------------------------------


def invite_code(session: Session, member: Membership) -> str:
    """The member's invite code, drawn the first time (the caller commits)."""
    for _attempt in range(10):
        code = session.scalar(select(InviteCode.code).where(InviteCode.member_id == member.id))
        if code is not None:
            return code
        try:
            with session.begin_nested():
                drawn = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
                session.add(InviteCode(member_id=member.id, code=drawn))
        except IntegrityError:  # a twin request drew first, or another member has it
            continue
    raise RuntimeError("could not draw an invite code")


def inviter(session: Session, code: str) -> Membership | None:
    """The member whose invite code this is, in the session's tenant."""
    if not isinstance(code, str) or len(code) != CODE_LENGTH:
        return None
    return session.scalar(
        select(Membership)
        .join(InviteCode, InviteCode.member_id == Membership.id)
        .where(InviteCode.code == code.upper())
    )


def via(code: str) -> str:
    """What the invite link's landing page keeps until the friend joins."""
    return VIA_PREFIX + code


# --- recording a friend -------------------------------------------------------------


def same_mailbox(a: str, b: str) -> bool:
    """Whether two e-mails reach the same mailbox: case, and the dots and `+tags` that
    common providers ignore, aside."""
    return _mailbox(a) == _mailbox(b)


def _mailbox(email: str) -> str:
    name, _at, domain = (email or "").strip().lower().rpartition("@")
    domain = "gmail.com" if domain == "googlemail.com" else domain
    if domain in TAGGED:
        name = name.split("+", 1)[0]
    if domain in DOTLESS:
        name = name.replace(".", "")
    return f"{name}@{domain}"


def _email(member: Membership) -> str:
    return member.customer.email if member.customer is not None else ""


def record(session: Session, friend: Membership, arrived_via: str) -> Referral | None:
    """Record `friend`, a new member who arrived from an invite link, as referred by the
    link's owner (refused when it is the same person); None for another link's `via`."""
    if not arrived_via.startswith(VIA_PREFIX):
        return None
    referrer = inviter(session, arrived_via.removeprefix(VIA_PREFIX))
    if referrer is None or referrer.id == friend.id:
        return None
    referral = Referral(referrer_id=referrer.id, friend_id=friend.id, status=Status.PENDING)
    if same_mailbox(_email(referrer), _email(friend)):
        referral.status, referral.reason = Status.REFUSED, Reason.SELF
    session.add(referral)
    session.flush()
    return referral


# --- paying -------------------------------------------------------------------------


def earned(entry: Entry) -> bool:
    """Points the friend earned: from the till or a purchase; welcome points, the
    referral's own, adjustments and refunds never count."""
    return entry.points > 0 and (earned_kind(entry.kind) or entry.purchase_id is not None)


def earned_kind(kind: str) -> bool:
    """Whether credits of `kind` are earned points whatever their purchase."""
    return kind == Kind.EARN


def _pays(session: Session, settings: dict[str, Any], entry: Entry | None) -> bool:
    if entry is None or not earned(entry):
        return False
    if settings["pays_on"] != FIRST_PURCHASE:
        return True
    purchase = session.get(Purchase, entry.purchase_id) if entry.purchase_id else None
    return (
        purchase is not None
        and purchase.status != PurchaseStatus.RETURNED
        and purchase.amount >= settings["min_purchase"]
    )


def paid_this_month(session: Session, tenant: Tenant, referrer_id: int) -> int:
    """Referrals paid to the inviter since the 1st of the month (the merchant's zone);
    a reversed one still counts: the cap is about friends brought, not points kept."""
    return session.scalar(
        select(func.count(Referral.id)).where(
            Referral.referrer_id == referrer_id,
            Referral.status.in_((Status.PAID, Status.REVERSED)),
            Referral.paid_at >= month_start(tenant, utcnow()),
        )
    )


def settle(session: Session, tenant: Tenant, friend_id: int, entry_id: int) -> Referral | None:
    """After the friend's credit `entry_id` committed: pay their referral if that
    credit is the paying event and it is still pending (the caller commits); returns
    the referral it settled, or the one found already settled under the lock."""
    # Most credits are no invited friend's: a plain read answers them without a lock.
    waiting = session.scalar(select(Referral.status).where(Referral.friend_id == friend_id))
    if waiting != Status.PENDING:
        return None
    settings = get_settings(session)
    if not _pays(session, settings, session.get(Entry, entry_id)):
        return None
    friend = lock_member(session, friend_id)
    referral = session.scalar(
        select(Referral).where(Referral.friend_id == friend.id).with_for_update()
    )
    if referral is None or referral.status != Status.PENDING:
        return referral
    referrer = lock_member(session, referral.referrer_id)
    if paid_this_month(session, tenant, referrer.id) >= settings["monthly_cap"]:
        referral.status, referral.reason = Status.REFUSED, Reason.CAP
        session.flush()
        return referral
    entry = session.get(Entry, entry_id)
    earn(
        session,
        referrer,
        points=settings["referrer_points"],
        kind=KIND,
        actor=Actor.system(),
        idempotency_key=system_key("referral", friend.id),
    )
    if settings["friend_points"]:
        earn(
            session,
            friend,
            points=settings["friend_points"],
            kind=FRIEND_KIND,
            actor=Actor.system(),
            idempotency_key=system_key("referral-friend", friend.id),
        )
    referral.status, referral.paid_at = Status.PAID, utcnow()
    referral.purchase_id = entry.purchase_id
    referral.referrer_points = settings["referrer_points"]
    referral.friend_points = settings["friend_points"]
    session.flush()
    notify(
        session,
        referrer,
        PAID.name,
        {"points": settings["referrer_points"], "friend": friend.first_name or ""},
    )
    return referral


def undo_for_return(session: Session, friend: Membership, purchase: Purchase) -> Referral | None:
    """In a return's transaction (the friend locked): take back, as far as unspent, the
    points of the referral that `purchase` paid, when returned within the window."""
    referral = session.scalar(
        select(Referral)
        .where(Referral.friend_id == friend.id, Referral.purchase_id == purchase.id)
        .with_for_update()
    )
    if referral is None or referral.status != Status.PAID:
        return None
    window = timedelta(days=get_settings(session)["return_days"])
    if utcnow() - purchase.created_at > window:
        return None
    referrer = lock_member(session, referral.referrer_id)
    for member, points, who in (
        (referrer, referral.referrer_points, "referrer"),
        (friend, referral.friend_points, "friend"),
    ):
        take = min(points, member.balance)
        if take:
            redeem(
                session,
                member,
                take,
                kind=RETURN_KIND,
                actor=Actor.system(),
                idempotency_key=system_key("referral-return", friend.id, who),
            )
    referral.status = Status.REVERSED
    session.flush()
    return referral


# --- what the panel and the app show ---------------------------------------------------


def referrals_of(session: Session, referrer: Membership) -> list[tuple[Referral, Membership]]:
    """The member's friends, newest first."""
    return list(
        session.execute(
            select(Referral, Membership)
            .join(Membership, Membership.id == Referral.friend_id)
            .where(Referral.referrer_id == referrer.id)
            .order_by(Referral.id.desc())
        ).all()
    )


def all_referrals(
    session: Session, limit: int = 500
) -> list[tuple[Referral, Membership, Membership]]:
    """Who brought whom, newest first: (referral, inviter, friend)."""
    referrer = aliased(Membership)
    return list(
        session.execute(
            select(Referral, referrer, Membership)
            .join(referrer, referrer.id == Referral.referrer_id)
            .join(Membership, Membership.id == Referral.friend_id)
            .order_by(Referral.id.desc())
            .limit(limit)
        ).all()
    )


def friends_points(session: Session) -> dict[int, tuple[int, int]]:
    """Per inviter: (friends brought, points those friends earned since they joined),
    so the merchant sees who brings valuable customers. A self-referral is no friend;
    one beyond the cap is (it was only not paid)."""
    genuine = Referral.reason.is_(None) | (Referral.reason != Reason.SELF)
    counted = (
        select(Referral.referrer_id, func.count(Referral.id).label("friends"))
        .where(genuine)
        .group_by(Referral.referrer_id)
        .subquery()
    )
    earned_since = (
        select(Referral.referrer_id, func.coalesce(func.sum(Entry.points), 0).label("points"))
        .join(Entry, Entry.member_id == Referral.friend_id)
        .where(
            genuine,
            Entry.points > 0,
            Entry.created_at >= Referral.created_at,
            (Entry.kind == Kind.EARN) | Entry.purchase_id.is_not(None),
        )
        .group_by(Referral.referrer_id)
        .subquery()
    )
    rows = session.execute(
        select(
            counted.c.referrer_id, counted.c.friends, func.coalesce(earned_since.c.points, 0)
        ).outerjoin(earned_since, earned_since.c.referrer_id == counted.c.referrer_id)
    ).all()
    return {referrer_id: (friends, int(points)) for referrer_id, friends, points in rows}
