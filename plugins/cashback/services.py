"""Cashback: points worth a percentage of a purchase, and paying a bill with points.

Rules (configured in the "cashback" settings, see settings.py):

* A program **applies** to a purchase when it is active, the purchase's local
  date (tenant's time zone) is within [starts_on, ends_on] (both included),
  the amount is at least `min_purchase`, and the member's savings ("Ahorros")
  are at least `savings_threshold`. Savings are everything the member bought
  from the merchant *before* this purchase, returned purchases excluded: the
  purchase that crosses the threshold does not earn yet, the next one does.
* When several programs apply (e.g. the usual 2% and Black Friday 5%), the
  purchase earns by the **highest** percentage, never the sum; on a tie, the
  first program listed.
* Points: floor(amount × percent / 100 / point_value), as one "cashback" entry
  labelled with the program's name and percentage ("Black Friday 5%").
  A return takes them back with the purchase's other points (the core does).
* **Pay with points**: at most `max_pay_with_points_percent` of a bill may be
  paid with points, i.e. floor(bill × max% / 100 / point_value) points; more is
  refused with a message that states that maximum. The debit is a ledger
  redemption of kind "pay_with_points", idempotent by key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.numbers import format_decimal
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.sdk import (
    Actor,
    Entry,
    InvalidInput,
    Membership,
    Purchase,
    PurchaseStatus,
    Tenant,
    format_money,
    load_settings,
    parse_amount,
    redeem,
    session_tenant_id,
)
from plugins.cashback.settings import CashbackSettings

NAMESPACE = "cashback"
KIND = "cashback"
PAY_KIND = "pay_with_points"


@dataclass(frozen=True)
class Payment:
    """A bill partly paid with points: what the till shows."""

    entry: Entry
    points: int
    value: Decimal  # money the points paid
    to_pay: Decimal  # what is left of the bill


def get_settings(session: Session) -> dict[str, Any]:
    return load_settings(session, NAMESPACE, CashbackSettings)


def local_date(tenant: Tenant, moment: datetime) -> date:
    return moment.astimezone(ZoneInfo(tenant.timezone)).date()


def savings(session: Session, member_id: int, *, before_id: int | None = None) -> Decimal:
    """Everything a member bought, returned purchases excluded (before a purchase, if given)."""
    query = select(func.coalesce(func.sum(Purchase.amount - Purchase.returned_amount), 0)).where(
        Purchase.member_id == member_id, Purchase.status == PurchaseStatus.RECORDED
    )
    if before_id is not None:
        query = query.where(Purchase.id < before_id)
    return Decimal(session.scalar(query))


def applicable(
    programs: list[dict[str, Any]], *, amount: Decimal, on: date, saved: Decimal
) -> list[dict[str, Any]]:
    return [
        p
        for p in programs
        if p["active"]
        and (p["starts_on"] is None or p["starts_on"] <= on)
        and (p["ends_on"] is None or on <= p["ends_on"])
        and amount >= p["min_purchase"]
        and saved >= p["savings_threshold"]
    ]


def best_program(programs: list[dict[str, Any]]) -> dict[str, Any] | None:
    best = None
    for program in programs:  # strictly greater: the first listed wins a tie
        if best is None or program["percent"] > best["percent"]:
            best = program
    return best


def cashback_points(amount: Decimal, percent: Decimal, point_value: Decimal) -> int:
    """floor(amount × percent / 100 / point_value): 5% of 45,000 at 10 a point is 225."""
    raw = amount * percent / Decimal(100) / point_value
    return int(raw.to_integral_value(rounding=ROUND_FLOOR))


def label(program: dict[str, Any], language: str) -> str:
    percent = format_decimal(program["percent"].normalize(), locale=language or "es")
    return f"{program['name']} {percent}%"


def cashback_for(
    session: Session, tenant: Tenant, member: Membership, purchase: Purchase
) -> tuple[dict[str, Any], int] | None:
    """The program a purchase earns by and its points, or None."""
    settings = get_settings(session)
    if not settings["programs"]:
        return None
    # The purchase is not flushed yet: every recorded purchase so far is "before" it.
    saved = savings(session, member.id)
    program = best_program(
        applicable(
            settings["programs"],
            amount=purchase.amount,
            on=local_date(tenant, purchase.created_at),
            saved=saved,
        )
    )
    if program is None:
        return None
    points = cashback_points(purchase.amount, program["percent"], settings["point_value"])
    return (program, points) if points > 0 else None


def max_points_for_bill(settings: dict[str, Any], bill: Decimal) -> int:
    """floor(bill × max% / 100 / point_value)."""
    return cashback_points(bill, settings["max_pay_with_points_percent"], settings["point_value"])


def pay_with_points(
    session: Session,
    member: Membership,
    bill_amount: Decimal | str | int,
    points: int,
    *,
    actor: Actor,
    idempotency_key: str | None = None,
    location_id: int | None = None,
    reference: str | None = None,
) -> Payment:
    """Pay part of a bill with points, within the merchant's cap.

    InvalidInput (stating the most points this bill allows) above the cap;
    InsufficientPoints when the member has fewer points. A retry with the same
    key returns the first payment and takes nothing more."""
    bill = parse_amount(bill_amount, field="bill_amount")
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise InvalidInput(points=_l("The points must be a whole number greater than zero."))
    settings = get_settings(session)
    allowed = max_points_for_bill(settings, bill)
    if points > allowed:
        tenant = session.get(Tenant, session_tenant_id(session))
        percent = format_decimal(
            settings["max_pay_with_points_percent"].normalize(), locale=tenant.language or "es"
        )
        raise InvalidInput(
            points=_l(
                "At most %(percent)s%% of a bill can be paid with points: at most %(allowed)s "
                "points for this bill of %(bill)s.",
                percent=percent,
                allowed=allowed,
                bill=format_money(bill, tenant.currency, _money_locale(tenant)),
            )
        )
    value = (points * settings["point_value"]).quantize(Decimal("0.01"))
    entry = redeem(
        session,
        member,
        points,
        actor=actor,
        kind=PAY_KIND,
        location_id=location_id,
        reference=reference,
        description=f"bill {bill}",
        idempotency_key=idempotency_key,
    )
    return Payment(entry=entry, points=-entry.points, value=value, to_pay=bill - value)


def _money_locale(tenant: Tenant) -> str:
    """The tenant's own formatting region (es_CO: "$ 45.000"), even outside a request."""
    candidate = f"{tenant.language or 'es'}_{(tenant.country or '').upper()}"
    try:
        Locale.parse(candidate)
        return candidate
    except (UnknownLocaleError, ValueError):
        return tenant.language or "es"
