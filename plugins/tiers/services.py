"""Tiers: levels with a points multiplier, reached by spend within a period.

Rules (the merchant configures them in the "tiers" settings, see settings.py):

* **Qualifying spend** is what a member bought in the current period, returned
  purchases excluded: the calendar month in the tenant's time zone (from local
  midnight of the 1st), or a rolling window of the last N × 24 hours.
* A spend **reaches** a tier when it is at least the tier's threshold
  (`spend >= threshold`); the tier a spend qualifies for is the highest one it
  reaches, or none when it reaches no tier.
* **Upgrade at once**: after every purchase the member's tier becomes
  max(tier, qualifying(spend of the current period, this purchase included)).
  The purchase that crosses a threshold earns at the tier the member held when
  it began (their card at the till); the next one earns at the new tier.
* **Returns** undo an upgrade that spend no longer supports:
  tier = min(tier, max(kept, qualifying(spend))). A return never raises a tier.
* **Period end** (`reevaluate`, run by the periodic job at local midnight of
  the 1st for a monthly period, of every day for a rolling one):
  - downgrade "never": kept = tier = max(tier, qualifying(current spend)), so a
    tier, once reached, is kept for good (a later return cannot undo it);
  - downgrade "period_end": kept = qualifying(spend of the period just closed)
    and tier = max(kept, qualifying(spend of the new period so far)): a member
    keeps for the next period the tier their spend of the closed one reached.
  `kept` is the floor a return cannot go below until the next period end.
* A member with no row (no purchase since the plugin was switched on) holds the
  tier their current spend qualifies for; their first purchase creates the row.
* The multiplier applies to the program's points (`base_points`): a Gold ×1.2
  member earns base + floor(base × 0.2) as a separate "tier_bonus" entry
  labelled "Oro ×1,2" (the multiplier in the tenant's language).

Tier changes are recorded in `tiers_changes` and announced after commit
through the `notify` hook, topic "tier_changed" (context: from/to codes and
names, the multiplier), so e-mail or push channels can tell the member.

`reevaluate` is set-based: one aggregate over the purchases of the closing
window, grouped by member, into a temporary table of the rows that change;
then one INSERT … SELECT of the change log and one UPDATE … FROM. A purchase
committed in the same instant as a period run may be counted by one and not
the other; the next purchase (or run) settles it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from types import NoneType
from typing import Any

from babel.numbers import format_decimal
from dateutil.relativedelta import relativedelta
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    case,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from core.sdk import (
    Membership,
    Purchase,
    PurchaseStatus,
    Tenant,
    Topic,
    announce,
    load_settings,
    month_start,
    notify,
    session_tenant_id,
    spend_by_member,
    utcnow,
)
from plugins.tiers.models import TierChange, TierMember
from plugins.tiers.settings import TierSettings

NAMESPACE = "tiers"


@dataclass(frozen=True)
class Tier:
    code: str
    name: str
    multiplier: Decimal
    threshold: Decimal


@dataclass(frozen=True)
class TierStatus:
    """What the panel, the customer's app and the API show about a member's tier."""

    tier: Tier | None
    since: datetime | None
    spend: Decimal  # qualifying spend of the current period
    period_start: datetime
    next_tier: Tier | None
    to_next: Decimal | None  # spend still missing to reach `next_tier`


def get_settings(session: Session) -> dict[str, Any]:
    return load_settings(session, NAMESPACE, TierSettings)


def tiers_of(settings: dict[str, Any]) -> list[Tier]:
    """The configured tiers, lowest threshold first."""
    return [Tier(t["code"], t["name"], t["multiplier"], t["threshold"]) for t in settings["tiers"]]


def qualifying(tiers: list[Tier], spend: Decimal) -> int:
    """Index of the highest tier `spend` reaches (threshold included), -1 for none."""
    rank = -1
    for index, tier in enumerate(tiers):
        if spend >= tier.threshold:
            rank = index
    return rank


def rank_of(tiers: list[Tier], code: str | None) -> int:
    """Index of a tier code; -1 for none, or a code the merchant has since removed."""
    for index, tier in enumerate(tiers):
        if tier.code == code:
            return index
    return -1


def period_start(tenant: Tenant, settings: dict[str, Any], now: datetime) -> datetime:
    """Where the current period began at `now`."""
    if settings["period"] == "month":
        return month_start(tenant, now)
    return now - timedelta(days=settings["rolling_days"])


def spend_since(session: Session, member_id: int, since: datetime) -> Decimal:
    """Qualifying spend of a member from `since` on (returned purchases excluded)."""
    total = session.scalar(
        select(func.coalesce(func.sum(Purchase.amount - Purchase.returned_amount), 0)).where(
            Purchase.member_id == member_id,
            Purchase.status == PurchaseStatus.RECORDED,
            Purchase.created_at >= since,
        )
    )
    return Decimal(total)


def tier_bonus_label(tier: Tier, language: str) -> str:
    multiplier = format_decimal(tier.multiplier.normalize(), locale=language or "es")
    return f"{tier.name} ×{multiplier}"


def tier_bonus(tier: Tier | None, base_points: int) -> int:
    """floor(base × (multiplier − 1)): Gold ×1.2 on 45 points adds 9."""
    if tier is None or base_points <= 0:
        return 0
    extra = Decimal(base_points) * (tier.multiplier - 1)
    return int(extra.to_integral_value(rounding=ROUND_FLOOR))


def current_tier(
    session: Session, tenant: Tenant, member_id: int, *, settings: dict[str, Any] | None = None
) -> Tier | None:
    """The tier a member holds now (before the purchase being recorded, if any)."""
    settings = settings or get_settings(session)
    tiers = tiers_of(settings)
    if not tiers:
        return None
    row = session.scalar(select(TierMember).where(TierMember.member_id == member_id))
    if row is not None:
        rank = rank_of(tiers, row.tier)
    else:
        rank = qualifying(
            tiers, spend_since(session, member_id, period_start(tenant, settings, utcnow()))
        )
    return tiers[rank] if rank >= 0 else None


def member_tier(session: Session, member: Membership) -> TierStatus:
    """A member's tier, since when, their spend this period and what the next tier needs."""
    tenant = session.get(Tenant, session_tenant_id(session))
    settings = get_settings(session)
    tiers = tiers_of(settings)
    start = period_start(tenant, settings, utcnow())
    spent = spend_since(session, member.id, start)
    tier = current_tier(session, tenant, member.id, settings=settings)
    row = session.scalar(select(TierMember).where(TierMember.member_id == member.id))
    rank = rank_of(tiers, tier.code if tier else None)
    following = tiers[rank + 1] if rank + 1 < len(tiers) else None
    return TierStatus(
        tier=tier,
        since=row.since if row and tier else None,
        spend=spent,
        period_start=start,
        next_tier=following,
        to_next=max(following.threshold - spent, Decimal(0)) if following else None,
    )


def tier_history(session: Session, member: Membership, *, limit: int = 20) -> list[TierChange]:
    return list(
        session.scalars(
            select(TierChange)
            .where(TierChange.member_id == member.id)
            .order_by(TierChange.id.desc())
            .limit(limit)
        )
    )


# --- in the purchase's transaction ----------------------------------------


def after_purchase(
    session: Session, tenant: Tenant, member: Membership, purchase: Purchase
) -> None:
    """Upgrade at once when the period's spend, this purchase included, reaches a tier."""
    settings = get_settings(session)
    tiers = tiers_of(settings)
    if not tiers:
        return
    now = purchase.created_at
    spent = spend_since(session, member.id, period_start(tenant, settings, now))
    row = session.scalar(select(TierMember).where(TierMember.member_id == member.id))
    if row is None:
        held = qualifying(tiers, spent - purchase.amount)  # the implicit tier, as calculated
        row = TierMember(
            member_id=member.id, tier=_code(tiers, held), kept=None, since=now, evaluated_at=now
        )
        session.add(row)
    else:
        held = rank_of(tiers, row.tier)
    _move(
        session,
        tenant,
        member,
        row,
        tiers,
        max(held, qualifying(tiers, spent)),
        reason="purchase",
        purchase_id=purchase.id,
        now=now,
    )


def after_return(session: Session, tenant: Tenant, member: Membership, purchase: Purchase) -> None:
    """Undo an upgrade the remaining spend no longer supports, never below `kept`."""
    settings = get_settings(session)
    tiers = tiers_of(settings)
    row = session.scalar(select(TierMember).where(TierMember.member_id == member.id))
    if not tiers or row is None:
        return  # without a row the tier follows the spend by itself
    now = utcnow()
    spent = spend_since(session, member.id, period_start(tenant, settings, now))
    held = rank_of(tiers, row.tier)
    supported = max(rank_of(tiers, row.kept), qualifying(tiers, spent))
    _move(
        session,
        tenant,
        member,
        row,
        tiers,
        min(held, supported),
        reason="return",
        purchase_id=purchase.id,
        now=now,
    )


def _move(
    session: Session,
    tenant: Tenant,
    member: Membership,
    row: TierMember,
    tiers: list[Tier],
    rank: int,
    *,
    reason: str,
    purchase_id: int | None,
    now: datetime,
) -> None:
    new = _code(tiers, rank)
    row.evaluated_at = now
    if new == row.tier:
        session.flush()
        return
    old = row.tier
    row.previous, row.tier, row.since = old, new, now
    session.add(
        TierChange(
            member_id=member.id,
            from_tier=old,
            to_tier=new,
            reason=reason,
            purchase_id=purchase_id,
            changed_at=now,
        )
    )
    session.flush()
    announce_change(session, member, tiers, old, new)


# What a tier change tells the member's channels (declared through `notification_topics`).
TIER_CHANGED = Topic(
    "tier_changed",
    {
        "from": (str, NoneType),
        "to": (str, NoneType),
        "from_name": (str, NoneType),
        "to_name": (str, NoneType),
        "multiplier": (str, NoneType),
        "upgrade": bool,
    },
    "The member's tier changed: codes and names (as the merchant wrote them) before and "
    "after (None: no tier), the new multiplier as a decimal string, and whether it rose.",
)


def announce_change(
    session: Session, member: Membership, tiers: list[Tier], old: str | None, new: str | None
) -> None:
    by_code = {t.code: t for t in tiers}
    before, after = by_code.get(old or ""), by_code.get(new or "")
    context = {
        "from": old,
        "to": new,
        "from_name": before.name if before else None,
        "to_name": after.name if after else None,
        "multiplier": str(after.multiplier) if after else None,
        "upgrade": rank_of(tiers, new) > rank_of(tiers, old),
    }
    notify(session, member, "tier_changed", context)
    announce(session, "happened", event="tier.changed", data={"member_id": member.id, **context})


def _code(tiers: list[Tier], rank: int) -> str | None:
    return tiers[rank].code if rank >= 0 else None


# --- period end: set-based -------------------------------------------------

# The rows one run changes (a temporary table, private to the connection).
_CHANGING = Table(
    "premia_tiers_changing",
    MetaData(),
    Column("row_id", Integer, primary_key=True),
    Column("member_id", Integer),
    Column("old_tier", String(30)),
    Column("new_tier", String(30)),
    Column("new_kept", String(30)),
)


def period_bounds(
    tenant: Tenant, settings: dict[str, Any], as_of: datetime
) -> tuple[datetime, datetime, datetime]:
    """(closed_start, boundary, current_start) of the period end at or before `as_of`.

    Monthly: the boundary is local midnight of the 1st of `as_of`'s month, the
    closed period the local month before it (DST included: local wall time).
    Rolling: the boundary is `as_of` itself and both windows are the N days before it.
    """
    if settings["period"] == "month":
        boundary = month_start(tenant, as_of)
        return boundary - relativedelta(months=1), boundary, boundary
    start = as_of - timedelta(days=settings["rolling_days"])
    return start, as_of, start


def reevaluate(session: Session, as_of: datetime, *, run: str | None = None) -> int:
    """Apply the downgrade policy at the period end at or before `as_of`, for every
    member of the session's tenant at once; returns how many members changed tier.

    Set-based: one aggregate of the purchases of the two periods grouped by member,
    joined to `tiers_members`, keeps only the rows that change (temporary table);
    then the change log (INSERT … SELECT) and the rows (UPDATE … FROM). The changes
    are recorded with `run` (a key naming this run) but not announced: the job does.
    """
    tenant_id = session_tenant_id(session)
    tenant = session.get(Tenant, tenant_id)
    settings = get_settings(session)
    tiers = tiers_of(settings)
    if not tiers:
        return 0
    session.flush()
    run = run or f"run:{as_of.isoformat()}:{secrets.token_hex(4)}"
    closed_start, boundary, current_start = period_bounds(tenant, settings, as_of)
    now = utcnow()

    m = TierMember.__table__
    totals = spend_by_member(
        tenant_id, {"closed": (closed_start, boundary), "current": (current_start, None)}
    )
    current = func.coalesce(totals.c.current, 0)
    closed = func.coalesce(totals.c.closed, 0)
    held = _rank_sql(tiers, m.c.tier)
    if settings["downgrade"] == "never":
        new_rank = _greatest(held, _qualifying_sql(tiers, current))
        kept_rank = new_rank
    else:
        kept_rank = _qualifying_sql(tiers, closed)
        new_rank = _greatest(kept_rank, _qualifying_sql(tiers, current))
    computed = (
        select(
            m.c.id.label("row_id"),
            m.c.member_id,
            m.c.tier.label("old_tier"),
            m.c.kept.label("old_kept"),
            _code_sql(tiers, new_rank).label("new_tier"),
            _code_sql(tiers, kept_rank).label("new_kept"),
        )
        .select_from(m.outerjoin(totals, totals.c.member_id == m.c.member_id))
        .where(m.c.tenant_id == tenant_id)
        .subquery("computed")
    )
    conn = session.connection()  # Core statements with explicit tenant filters
    conn.execute(
        text(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_CHANGING.name} (row_id INTEGER PRIMARY KEY, "
            "member_id INTEGER, old_tier VARCHAR(30), new_tier VARCHAR(30), new_kept VARCHAR(30))"
        )
    )
    conn.execute(_CHANGING.delete())
    conn.execute(
        insert(_CHANGING).from_select(
            ["row_id", "member_id", "old_tier", "new_tier", "new_kept"],
            select(
                computed.c.row_id,
                computed.c.member_id,
                computed.c.old_tier,
                computed.c.new_tier,
                computed.c.new_kept,
            ).where(
                computed.c.new_tier.is_distinct_from(computed.c.old_tier)
                | computed.c.new_kept.is_distinct_from(computed.c.old_kept)
            ),
        )
    )
    c = _CHANGING.c
    changed_tier = c.new_tier.is_distinct_from(c.old_tier)
    changes = TierChange.__table__
    changed = conn.scalar(select(func.count()).select_from(_CHANGING).where(changed_tier))
    conn.execute(
        insert(changes).from_select(
            ["tenant_id", "member_id", "from_tier", "to_tier", "reason", "run", "changed_at"],
            select(
                literal(tenant_id),
                c.member_id,
                c.old_tier,
                c.new_tier,
                literal("period_end"),
                literal(run),
                literal(now, type_=changes.c.changed_at.type),
            ).where(changed_tier),
        )
    )
    conn.execute(
        update(m)
        .where(m.c.tenant_id == tenant_id, m.c.id == c.row_id)
        .values(
            tier=c.new_tier,
            kept=c.new_kept,
            evaluated_at=now,
            previous=case((changed_tier, m.c.tier), else_=m.c.previous),
            since=case((changed_tier, literal(boundary, type_=m.c.since.type)), else_=m.c.since),
        )
    )
    conn.execute(_CHANGING.delete())
    session.expire_all()  # tier rows loaded before are stale now
    return changed


def announce_run(session: Session, run: str) -> int:
    """Announce (after commit) the tier changes a period run recorded."""
    tiers = tiers_of(get_settings(session))
    rows = session.execute(
        select(Membership, TierChange.from_tier, TierChange.to_tier)
        .join(TierChange, TierChange.member_id == Membership.id)
        .where(TierChange.run == run)
    ).all()
    for member, old, new in rows:
        announce_change(session, member, tiers, old, new)
    return len(rows)


def _qualifying_sql(tiers: list[Tier], spend: Any) -> Any:
    whens = [(spend >= tier.threshold, index) for index, tier in reversed(list(enumerate(tiers)))]
    return case(*whens, else_=-1)


def _rank_sql(tiers: list[Tier], code: Any) -> Any:
    return case({tier.code: index for index, tier in enumerate(tiers)}, value=code, else_=-1)


def _code_sql(tiers: list[Tier], rank: Any) -> Any:
    return case(
        {index: tier.code for index, tier in enumerate(tiers)},
        value=rank,
        else_=literal(None, String),
    )


def _greatest(a: Any, b: Any) -> Any:
    return case((a >= b, a), else_=b)
