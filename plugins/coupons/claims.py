"""Claiming a coupon: the rules, and the claim page's address.

A claim credits the points once per code and customer (the ledger key names both),
and raises the campaign's `claimed` with one conditional UPDATE: on PostgreSQL a
concurrent claim waits for the row and re-reads the condition, so a shared code
with a stock of 10 gives exactly 10 credits however many people claim it at once.
A single-use code is taken the same way (`claimed_by IS NULL`).

A refusal says why (used, expired, out of stock, unknown), and an unknown code and
another merchant's read the same: the session is the merchant's, so another's code
is simply unknown here. The claim page counts every attempt per person and address
(see `app.py`), so codes cannot be enumerated.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, object_session

from core.sdk import (
    Actor,
    Conflict,
    Membership,
    NotFound,
    PremiaError,
    Tenant,
    announce,
    earn,
    external_url,
    join_merchant,
    lock_member,
    month_start,
    plan_limit,
    system_key,
    utcnow,
)
from plugins.coupons import codes
from plugins.coupons.models import Campaign, Claim, Code, Kind

CLAIM_ENDPOINT = "t.coupons_app.claim"
KIND = "coupon"  # the ledger entry kind of a claim; its description is the campaign's name
ENTRY_KINDS = {KIND: _l("Coupon")}
ADVISORY_SPACE = 0x0C0F  # pg_advisory_xact_lock's first key: the coupons' monthly count
MONTHLY = "coupons.codes_per_month"


class Unknown(NotFound):
    reason = "coupon_unknown"
    message = _l("We do not know this coupon code. Check it and try again.")


class Refused(Conflict):
    reason = "coupon_refused"


class Used(Refused):
    reason = "coupon_used"
    message = _l("This coupon was already used.")


class AlreadyClaimed(Refused):
    reason = "coupon_already_claimed"
    message = _l("You already claimed this coupon.")


class Expired(Refused):
    reason = "coupon_expired"
    message = _l("This coupon has expired.")


class NotYet(Refused):
    reason = "coupon_not_yet"
    message = _l("This coupon is not valid yet.")


class Inactive(Refused):
    reason = "coupon_inactive"
    message = _l("This coupon is no longer valid.")


class SoldOut(Refused):
    reason = "coupon_out_of_stock"
    message = _l("This coupon is out of stock.")


def claim_url(tenant: Tenant, code_text: str) -> str:
    """The absolute URL of `code_text`'s claim page on the merchant's app (the brand's
    own domain for a white-label merchant), as a QR or a link carries it: built from
    the configuration, never the request, so a job or the CLI prints the same."""
    return external_url(CLAIM_ENDPOINT, tenant, code=code_text)


def local_today(tenant: Tenant, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(ZoneInfo(tenant.timezone)).date()


def used_this_month(session: Session, tenant: Tenant, now: datetime | None = None) -> int:
    """What counts against the plan's monthly limit: codes created plus shared-code
    claims since the 1st of this month in the merchant's time zone."""
    since = month_start(tenant, now or utcnow())
    created = session.scalar(select(func.count(Code.id)).where(Code.created_at >= since))
    shared = session.scalar(
        select(func.count(Claim.id))
        .join(Campaign, Campaign.id == Claim.campaign_id)
        .where(Claim.created_at >= since, Campaign.kind == Kind.SHARED)
    )
    return int(created or 0) + int(shared or 0)


def _serialise_counted_claims(session: Session, tenant: Tenant) -> None:
    """Claims counted against the plan's monthly limit are taken one at a time per
    merchant (until the transaction ends): two people at once would both see the last
    free place. On SQLite writers are one at a time anyway."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:space, :tenant)"),
            {"space": ADVISORY_SPACE, "tenant": tenant.id},
        )


def room_this_month(session: Session, tenant: Tenant) -> int | None:
    """How many more codes or shared claims the plan allows this month (None: no limit)."""
    limit = plan_limit(tenant, MONTHLY)
    if limit is None:
        return None
    return max(0, limit - used_this_month(session, tenant))


def find_code(session: Session, code_text: str) -> tuple[Code, Campaign]:
    """The code and its campaign at the session's merchant; Unknown otherwise."""
    text = codes.normalized(code_text)
    code = session.scalar(select(Code).where(Code.code == text)) if codes.valid(text) else None
    if code is None:
        raise Unknown()
    return code, session.get(Campaign, code.campaign_id)


def check_claimable(
    tenant: Tenant, code: Code, campaign: Campaign, member: Membership | None = None
) -> None:
    """Refuse a code that `member` (None: someone not a member yet) may not claim now."""
    if member is not None:
        session = object_session(code)
        mine = select(Claim.id).where(Claim.code_id == code.id, Claim.member_id == member.id)
        if session.scalar(mine) is not None:
            raise AlreadyClaimed()
    if not (code.active and campaign.active):
        raise Inactive()
    today = local_today(tenant)
    if today < campaign.starts_on:
        raise NotYet()
    last = code.expires_on or campaign.ends_on
    if last is not None and today > last:
        raise Expired()
    if campaign.kind == Kind.SINGLE and code.claimed_by is not None:
        raise Used()
    if campaign.stock is not None and campaign.claimed >= campaign.stock:
        raise SoldOut()


def claim(session: Session, tenant: Tenant, customer: Any, code_text: str) -> Claim:
    """`customer` (signed in to the merchant's app) claims `code_text`: they become a
    member where they were not, and earn its points once. The caller commits."""
    code, campaign = find_code(session, code_text)
    member = session.scalar(select(Membership).where(Membership.customer_id == customer.id))
    check_claimable(tenant, code, campaign, member)
    if member is None:
        member = join_merchant(
            session, customer, joined_via="coupon", actor=Actor.customer(customer.id)
        )
    return claim_as_member(session, tenant, member, code, campaign)


def claim_as_member(
    session: Session, tenant: Tenant, member: Membership, code: Code, campaign: Campaign
) -> Claim:
    """`member` claims `code` of `campaign` (found and checked): the stock and the
    single-use code taken with conditional UPDATEs, then the points, once."""
    member = lock_member(session, member.id)  # one claim at a time per member
    mine = select(Claim.id).where(Claim.code_id == code.id, Claim.member_id == member.id)
    if session.scalar(mine) is not None:
        raise AlreadyClaimed()
    now = utcnow()
    if campaign.kind == Kind.SINGLE:
        taken = session.execute(
            update(Code)
            .where(Code.id == code.id, Code.claimed_by.is_(None))
            .values(claimed_by=member.id, claimed_at=now)
        ).rowcount
        if not taken:
            raise Used()
    else:
        if plan_limit(tenant, MONTHLY) is not None:
            _serialise_counted_claims(session, tenant)
        room = room_this_month(session, tenant)
        if room is not None and room <= 0:
            raise SoldOut()
    counted = session.execute(
        update(Campaign)
        .where(
            Campaign.id == campaign.id,
            (Campaign.stock.is_(None)) | (Campaign.claimed < Campaign.stock),
        )
        .values(claimed=Campaign.claimed + 1)
    ).rowcount
    if not counted:
        raise SoldOut()
    points = code.points or campaign.points
    entry = earn(
        session,
        member,
        points=points,
        kind=KIND,
        actor=Actor.system() if member.customer_id is None else Actor.customer(member.customer_id),
        description=campaign.name,
        idempotency_key=system_key("coupon", code.id, member.id),
    )
    row = Claim(
        code_id=code.id,
        campaign_id=campaign.id,
        member_id=member.id,
        entry_id=entry.id,
        points=points,
        created_at=now,
    )
    session.add(row)
    session.flush()
    data = {"member_id": member.id, "id": row.id, "claim_id": row.id, "campaign_id": campaign.id}
    data |= {"campaign": campaign.name, "points": points, "entry_id": entry.id}
    announce(session, "happened", event="coupon.claimed", data=data)
    return row


def claim_on_joining(
    session: Session, tenant: Tenant, member: Membership, code_text: str
) -> Claim | None:
    """A new member who arrived from a coupon's page claims it as they join; a refusal
    leaves the joining as it is (nothing of the claim written)."""
    try:
        with session.begin_nested():
            code, campaign = find_code(session, code_text)
            check_claimable(tenant, code, campaign, member)
            return claim_as_member(session, tenant, member, code, campaign)
    except PremiaError:
        return None
