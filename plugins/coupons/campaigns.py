"""A merchant's coupon campaigns: creating one with its codes, switching a campaign or
a code off, and what the Cupones screen lists (claimed against stock, each code's status).

Creating codes counts against the plan's monthly limit (`claims.room_this_month`),
checked before anything is written: a campaign is created whole or not at all.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.sdk import MAX_POINTS_PER_OPERATION, InvalidInput, Membership, NotFound, Tenant
from plugins.coupons import codes
from plugins.coupons.claims import room_this_month
from plugins.coupons.models import Campaign, Claim, Code, Kind

MAX_CODES = 5000  # single-use codes one campaign generates at once
MAX_STOCK = 1_000_000


class CodeStatus(enum.StrEnum):
    AVAILABLE = "available"
    CLAIMED = "claimed"
    EXPIRED = "expired"
    INACTIVE = "inactive"


STATUS_LABELS = {
    CodeStatus.AVAILABLE: _l("Available"),
    CodeStatus.CLAIMED: _l("Claimed"),
    CodeStatus.EXPIRED: _l("Expired"),
    CodeStatus.INACTIVE: _l("Deactivated"),
}


def _check(
    name: str, points: int, starts_on: date | None, ends_on: date | None
) -> dict[str, object]:
    errors: dict[str, object] = {}
    if not (name or "").strip() or len(name.strip()) > 80:
        errors["name"] = _l("Give the campaign a name of 1 to 80 characters.")
    if not isinstance(points, int) or not 0 < points <= MAX_POINTS_PER_OPERATION:
        errors["points"] = _l(
            "The points must be a whole number from 1 to %(most)d.", most=MAX_POINTS_PER_OPERATION
        )
    if starts_on is None:
        errors["starts_on"] = _l("Say from which day the coupons are valid.")
    elif ends_on is not None and ends_on < starts_on:
        errors["ends_on"] = _l("The last day cannot come before the first.")
    return errors


def draw_codes(session: Session, count: int) -> list[str]:
    """`count` new codes, none already the merchant's (a clash is drawn again)."""
    drawn: set[str] = set()
    while len(drawn) < count:
        batch = {codes.new_code() for _ in range(count - len(drawn))} - drawn
        taken = set(session.scalars(select(Code.code).where(Code.code.in_(batch))))
        drawn |= batch - taken
    return sorted(drawn)


def create_campaign(
    session: Session,
    tenant: Tenant,
    *,
    name: str,
    points: int,
    starts_on: date | None,
    ends_on: date | None,
    kind: str,
    count: int | None = None,
    stock: int | None = None,
    code: str | None = None,
) -> Campaign:
    """A campaign with its codes: `count` single-use codes, or one shared code claimable
    `stock` times in all (None: no limit), the merchant's `code` ("BIENVENIDA2027": a
    shared code is printed for everyone to read anyway) or one drawn. The caller commits."""
    errors = _check(name, points, starts_on, ends_on)
    chosen = ""
    if kind == Kind.SINGLE:
        if not isinstance(count, int) or not 0 <= count <= MAX_CODES:
            errors["count"] = _l("Generate from 0 to %(most)d codes.", most=MAX_CODES)
        new = count or 0
    elif kind == Kind.SHARED:
        if stock is not None and (not isinstance(stock, int) or not 0 < stock <= MAX_STOCK):
            errors["stock"] = _l(
                "The stock must be a whole number from 1 to %(most)d.", most=MAX_STOCK
            )
        chosen = codes.normalized(code or "")
        if chosen and not codes.valid(chosen):
            errors["code"] = _l(
                "A code has 4 to 24 letters and digits, for example BIENVENIDA2027."
            )
        elif chosen and session.scalar(select(Code.id).where(Code.code == chosen)) is not None:
            errors["code"] = _l("You already have a coupon with the code %(code)s.", code=chosen)
        new = 1
    else:
        errors["kind"] = _l("Choose single-use codes or one shared code.")
        new = 0
    if errors:
        raise InvalidInput(**errors)
    room = room_this_month(session, tenant)
    if room is not None and new > room:
        raise InvalidInput(
            count=_l("Your plan allows %(room)d more coupon codes this month.", room=room)
        )
    campaign = Campaign(
        name=name.strip(),
        points=points,
        starts_on=starts_on,
        ends_on=ends_on,
        kind=kind,
        stock=stock if kind == Kind.SHARED else None,
    )
    session.add(campaign)
    session.flush()
    texts = [chosen] if chosen else draw_codes(session, new)
    session.add_all(Code(campaign_id=campaign.id, code=text) for text in texts)
    session.flush()
    return campaign


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound()
    return campaign


def get_code(session: Session, code_id: int) -> Code:
    code = session.get(Code, code_id)
    if code is None:
        raise NotFound()
    return code


def deactivate_campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = get_campaign(session, campaign_id)
    campaign.active = False
    session.flush()
    return campaign


def deactivate_code(session: Session, code_id: int) -> Code:
    code = get_code(session, code_id)
    code.active = False
    session.flush()
    return code


@dataclass(frozen=True)
class CampaignRow:
    campaign: Campaign
    codes: int
    claims: int


def campaigns(session: Session) -> list[CampaignRow]:
    """Every campaign, newest first, with its number of codes and of claims."""
    code_counts = (
        select(Code.campaign_id, func.count(Code.id).label("n"))
        .group_by(Code.campaign_id)
        .subquery()
    )
    rows = session.execute(
        select(Campaign, func.coalesce(code_counts.c.n, 0))
        .outerjoin(code_counts, code_counts.c.campaign_id == Campaign.id)
        .order_by(Campaign.id.desc())
    )
    return [CampaignRow(campaign, count, campaign.claimed) for campaign, count in rows]


@dataclass(frozen=True)
class CodeRow:
    code: Code
    status: CodeStatus
    claims: int
    claimed_by: Membership | None  # single-use: who claimed it
    claimed_at: datetime | None


def status_of(code: Code, campaign: Campaign, today: date) -> CodeStatus:
    if campaign.kind == Kind.SINGLE and code.claimed_by is not None:
        return CodeStatus.CLAIMED
    if not (code.active and campaign.active):
        return CodeStatus.INACTIVE
    last = code.expires_on or campaign.ends_on
    if last is not None and today > last:
        return CodeStatus.EXPIRED
    return CodeStatus.AVAILABLE


def count_codes(session: Session, campaign: Campaign) -> int:
    """How many codes the campaign has, switched off or not."""
    return int(
        session.scalar(select(func.count(Code.id)).where(Code.campaign_id == campaign.id)) or 0
    )


def code_rows(
    session: Session, campaign: Campaign, today: date, limit: int = 500, offset: int = 0
) -> list[CodeRow]:
    """The campaign's codes, oldest first (`limit` of them from `offset`), with their
    status and who claimed them."""
    claims = (
        select(Claim.code_id, func.count(Claim.id).label("n")).group_by(Claim.code_id).subquery()
    )
    rows = session.execute(
        select(Code, Membership, func.coalesce(claims.c.n, 0))
        .outerjoin(Membership, Membership.id == Code.claimed_by)
        .outerjoin(claims, claims.c.code_id == Code.id)
        .where(Code.campaign_id == campaign.id)
        .order_by(Code.id)
        .limit(limit)
        .offset(offset)
    )
    return [
        CodeRow(code, status_of(code, campaign, today), n, member, code.claimed_at)
        for code, member, n in rows
    ]


def recent_claims(
    session: Session, campaign: Campaign, limit: int = 200
) -> list[tuple[Claim, Membership, Code]]:
    """Who claimed the campaign's codes and when, newest first."""
    return list(
        session.execute(
            select(Claim, Membership, Code)
            .join(Membership, Membership.id == Claim.member_id)
            .join(Code, Code.id == Claim.code_id)
            .where(Claim.campaign_id == campaign.id)
            .order_by(Claim.id.desc())
            .limit(limit)
        ).all()
    )


def fill_demo(session: Session, tenant: Tenant) -> None:
    """The demo's coupons: a flyer campaign of single-use codes, three of them claimed by
    the demo's first members, and a shared welcome code with a stock."""
    from plugins.coupons.claims import claim_as_member, local_today

    today = local_today(tenant)
    flyer = create_campaign(
        session,
        tenant,
        name="Volante Chapinero",
        points=50,
        starts_on=today.replace(day=1),
        ends_on=None,
        kind=Kind.SINGLE,
        count=24,
    )
    create_campaign(
        session,
        tenant,
        name="BIENVENIDA2027",
        points=30,
        starts_on=today.replace(day=1),
        ends_on=None,
        kind=Kind.SHARED,
        stock=200,
    )
    members = session.scalars(select(Membership).order_by(Membership.id).limit(3))
    flyer_codes = session.scalars(
        select(Code).where(Code.campaign_id == flyer.id).order_by(Code.id).limit(3)
    )
    for member, code in zip(members, flyer_codes, strict=False):
        claim_as_member(session, tenant, member, code, flyer)
