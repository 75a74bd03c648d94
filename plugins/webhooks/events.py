"""The events a merchant's endpoint may subscribe to: each one's stable JSON schema and
example (published in the OpenAPI document's `webhooks` section), and the payloads
built from the platform's records.

Every body is `{"type": <event>, "timestamp": <ISO 8601 UTC>, "data": {...}}`, as the
Standard Webhooks specification recommends; fields are only ever added to `data`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from core.sdk import Entry, Kind, Membership, Purchase, Redemption, Tenant, kind_label


@dataclass(frozen=True)
class Event:
    name: str
    label: Any  # lazy translated, for the panel
    description: str  # English, for the OpenAPI document
    data: dict[str, Any]  # JSON Schema of `data`
    example: dict[str, Any]


def _s(kind: str | list[str], description: str = "", **more: Any) -> dict[str, Any]:
    return {"type": kind, **({"description": description} if description else {}), **more}


def _obj(properties: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {
        "type": "object",
        **({"description": description} if description else {}),
        "required": sorted(properties),
        "properties": properties,
    }


MEMBER = _obj(
    {
        "code": _s("string", "What the customer's QR code says; the API's `code`."),
        "email": _s("string"),
        "first_name": _s("string"),
        "last_name": _s("string"),
        "document_id": _s(["string", "null"]),
        "phone": _s(["string", "null"]),
        "birthday": _s(["string", "null"], format="date"),
        "balance": _s(
            "integer",
            "The balance when the event was published; an entry's balance_after is exact.",
        ),
        "joined_via": _s("string", "staff, app, api, coupon, referral, import…"),
        "created_at": _s("string", format="date-time"),
    },
    "The customer, as the API's `GET /customers/{code}` shows them.",
)
ENTRY = _obj(
    {
        "id": _s("integer"),
        "kind": _s(
            "string",
            "earn, welcome, adjust, redeem, refund, expire, return, or a "
            "rule's own kind (tier_bonus, cashback, coupon, survey…).",
        ),
        "label": _s("string", "What the entry is, in the merchant's language."),
        "points": _s("integer", "Positive: points given; negative: points taken."),
        "balance_after": _s("integer"),
        "reference": _s(["string", "null"], "The till's reference (an invoice number)."),
        "purchase_id": _s(["integer", "null"]),
        "location_id": _s(["integer", "null"]),
        "created_at": _s("string", format="date-time"),
    }
)
RETURNED_PART = _obj(
    {
        "amount": _s("string", "Money given back, as a decimal string."),
        "points": _s("integer", "Points this part took back."),
        "points_not_recovered": _s("integer", "Points due back but already spent."),
        "lines": {
            "type": "array",
            "description": "The purchase's lines returned (empty for a return by amount).",
            "items": _obj({"line_id": _s("integer"), "quantity": _s("integer")}),
        },
    },
    "Part of a purchase returned; null when this return completed the purchase's return.",
)
PURCHASE = _obj(
    {
        "id": _s("integer"),
        "reference": _s(["string", "null"]),
        "amount": _s(
            "string", "A decimal amount in the merchant's currency.", pattern=r"^-?\d+(\.\d+)?$"
        ),
        "currency": _s("string"),
        "points": _s("integer", "Every point the purchase earned, every rule included."),
        "status": _s("string", enum=["recorded", "returned"]),
        "location_id": _s(["integer", "null"]),
        "created_at": _s("string", format="date-time"),
        "returned_at": _s(["string", "null"], format="date-time"),
    }
)
REDEMPTION = _obj(
    {
        "id": _s("integer"),
        "status": _s("string", enum=["requested", "confirmed", "cancelled"]),
        "reward_id": _s("integer"),
        "reward": _s("string", "The reward's name."),
        "points": _s("integer"),
        "location_id": _s(["integer", "null"]),
        "created_at": _s("string", format="date-time"),
    }
)

EXAMPLE_MEMBER = {
    "code": "K7Q2M9XD4PLA",
    "email": "ana@example.com",
    "first_name": "Ana",
    "last_name": "Gómez",
    "document_id": "1020304050",
    "phone": "+57 300 123 4567",
    "birthday": "1990-04-12",
    "balance": 350,
    "joined_via": "staff",
    "created_at": "2026-11-02T15:04:05Z",
}
EXAMPLE_ENTRY = {
    "id": 812,
    "kind": "earn",
    "label": "Puntos ganados",
    "points": 120,
    "balance_after": 350,
    "reference": "FV-10293",
    "purchase_id": 97,
    "location_id": 3,
    "created_at": "2026-12-05T14:30:00Z",
}
EXAMPLE_PURCHASE = {
    "id": 97,
    "reference": "FV-10293",
    "amount": "120000.00",
    "currency": "COP",
    "points": 132,
    "status": "recorded",
    "location_id": 3,
    "created_at": "2026-12-05T14:30:00Z",
    "returned_at": None,
}
EXAMPLE_REDEMPTION = {
    "id": 41,
    "status": "confirmed",
    "reward_id": 5,
    "reward": "Café gratis",
    "points": 100,
    "location_id": 3,
    "created_at": "2026-12-05T14:40:00Z",
}


def _entry_event(name: str, label: Any, what: str, example_kind: str, points: int) -> Event:
    entry = {**EXAMPLE_ENTRY, "kind": example_kind, "points": points}
    return Event(
        name,
        label,
        f"{what} One event per ledger entry, with the entry's kind and label.",
        _obj({"member": MEMBER, "entry": ENTRY}),
        {"member": EXAMPLE_MEMBER, "entry": entry},
    )


def _redemption_event(status: str, label: Any, what: str) -> Event:
    return Event(
        f"redemption.{status}",
        label,
        what,
        _obj({"member": MEMBER, "redemption": REDEMPTION}),
        {"member": EXAMPLE_MEMBER, "redemption": {**EXAMPLE_REDEMPTION, "status": status}},
    )


EVENTS: dict[str, Event] = {
    event.name: event
    for event in (
        Event(
            "member.created",
            _l("Customer created"),
            "A person became a customer of the merchant (not sent for imports in bulk).",
            _obj({"member": MEMBER}),
            {"member": EXAMPLE_MEMBER},
        ),
        Event(
            "member.updated",
            _l("Customer updated"),
            "The merchant changed a customer's record (names, document, phone, birthday).",
            _obj({"member": MEMBER}),
            {"member": EXAMPLE_MEMBER},
        ),
        _entry_event(
            "points.earned",
            _l("Points earned"),
            "Points were given (a purchase, a rule, welcome points, a coupon, a survey…).",
            "earn",
            120,
        ),
        _entry_event(
            "points.redeemed",
            _l("Points redeemed"),
            "Points were spent on a reward.",
            "redeem",
            -100,
        ),
        _entry_event(
            "points.refunded",
            _l("Points refunded"),
            "Points of a cancelled redemption came back.",
            "refund",
            100,
        ),
        _entry_event(
            "points.expired",
            _l("Points expired"),
            "Points reached their expiry date.",
            "expire",
            -40,
        ),
        _entry_event(
            "points.adjusted",
            _l("Points adjusted"),
            "Staff corrected a balance, or a return took points back (kind `return`).",
            "adjust",
            -20,
        ),
        Event(
            "purchase.recorded",
            _l("Purchase recorded"),
            "A purchase was recorded, with the entries it wrote.",
            _obj(
                {
                    "member": MEMBER,
                    "purchase": PURCHASE,
                    "entries": {"type": "array", "items": ENTRY},
                }
            ),
            {"member": EXAMPLE_MEMBER, "purchase": EXAMPLE_PURCHASE, "entries": [EXAMPLE_ENTRY]},
        ),
        Event(
            "purchase.returned",
            _l("Purchase returned"),
            "A purchase, or `part` of it, was returned; `entry` took its points back (null "
            "when none could be).",
            _obj(
                {
                    "member": MEMBER,
                    "purchase": PURCHASE,
                    "entry": {"oneOf": [ENTRY, {"type": "null"}]},
                    "part": {"oneOf": [RETURNED_PART, {"type": "null"}]},
                }
            ),
            {
                "member": EXAMPLE_MEMBER,
                "purchase": {
                    **EXAMPLE_PURCHASE,
                    "status": "returned",
                    "returned_at": "2026-12-06T10:00:00Z",
                },
                "entry": {**EXAMPLE_ENTRY, "kind": "return", "points": -132},
                "part": None,
            },
        ),
        _redemption_event(
            "requested",
            _l("Redemption requested"),
            "A customer asked for a reward in the app; staff confirm or cancel it.",
        ),
        _redemption_event(
            "confirmed", _l("Redemption confirmed"), "A reward was handed to the customer."
        ),
        _redemption_event(
            "cancelled",
            _l("Redemption cancelled"),
            "A redemption was cancelled; its points were refunded.",
        ),
        Event(
            "coupon.claimed",
            _l("Coupon claimed"),
            "A customer claimed a coupon code and earned its points.",
            _obj(
                {
                    "member": MEMBER,
                    "claim_id": _s("integer"),
                    "campaign_id": _s("integer"),
                    "campaign": _s("string", "The campaign's name."),
                    "points": _s("integer"),
                    "entry_id": _s("integer"),
                }
            ),
            {
                "member": EXAMPLE_MEMBER,
                "claim_id": 7,
                "campaign_id": 2,
                "campaign": "Navidad 2026",
                "points": 50,
                "entry_id": 813,
            },
        ),
        Event(
            "tier.changed",
            _l("Tier changed"),
            "A customer's tier changed (codes and names as the merchant wrote them; null: "
            "no tier).",
            _obj(
                {
                    "member": MEMBER,
                    "from": _s(["string", "null"]),
                    "to": _s(["string", "null"]),
                    "from_name": _s(["string", "null"]),
                    "to_name": _s(["string", "null"]),
                    "multiplier": _s(
                        ["string", "null"], "The new tier's points multiplier, a decimal."
                    ),
                    "upgrade": _s("boolean"),
                }
            ),
            {
                "member": EXAMPLE_MEMBER,
                "from": "silver",
                "to": "gold",
                "from_name": "Plata",
                "to_name": "Oro",
                "multiplier": "1.2",
                "upgrade": True,
            },
        ),
        Event(
            "survey.answered",
            _l("Survey answered"),
            "A customer answered the satisfaction survey (0–10).",
            _obj(
                {
                    "member": MEMBER,
                    "survey_id": _s("integer"),
                    "score": _s("integer", minimum=0, maximum=10),
                    "comment": _s(["string", "null"]),
                    "bonus": _s("integer", "Points given for answering (0: none)."),
                }
            ),
            {
                "member": EXAMPLE_MEMBER,
                "survey_id": 31,
                "score": 9,
                "comment": "Muy buena atención",
                "bonus": 20,
            },
        ),
    )
}

# Sent only by "send a test event", to the one endpoint tested; nobody subscribes to it.
TEST = Event(
    "webhook.test",
    _l("Test event"),
    "Sent from the panel's “send a test event” button or the API, to one endpoint.",
    _obj({"endpoint_id": _s("integer"), "message": _s("string")}),
    {"endpoint_id": 4, "message": "This is a test event from Premia."},
)

# The ledger's kinds and the event each entry is sent as; other kinds (rules' own credits
# such as tier_bonus, coupon, survey) are earnings when positive, adjustments otherwise.
ENTRY_EVENTS = {
    Kind.REDEEM: "points.redeemed",
    Kind.REFUND: "points.refunded",
    Kind.EXPIRE: "points.expired",
    Kind.ADJUST: "points.adjusted",
    Kind.RETURN: "points.adjusted",
}


def entry_event(entry: Entry) -> str:
    return kind_event(entry.kind, entry.points)


def kind_event(kind: str, points: int) -> str:
    """The event of an entry of `kind` and `points` (its sign is what matters)."""
    found = ENTRY_EVENTS.get(kind)
    if found is not None:
        return found
    return "points.earned" if points > 0 else "points.adjusted"


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.isoformat().replace("+00:00", "Z")


def member_data(member: Membership) -> dict[str, Any]:
    return {
        "code": member.code,
        "email": member.email,
        "first_name": member.first_name,
        "last_name": member.last_name,
        "document_id": member.document_id,
        "phone": member.phone,
        "birthday": member.birthday.isoformat() if member.birthday else None,
        "balance": member.balance,
        "joined_via": member.joined_via,
        "created_at": iso(member.created_at),
    }


def entry_data(tenant: Tenant, entry: Entry) -> dict[str, Any]:
    with force_locale(tenant.language):
        label = str(kind_label(entry.kind, entry.label))
    return {
        "id": entry.id,
        "kind": entry.kind,
        "label": label,
        "points": entry.points,
        "balance_after": entry.balance_after,
        "reference": entry.reference,
        "purchase_id": entry.purchase_id,
        "location_id": entry.location_id,
        "created_at": iso(entry.created_at),
    }


def purchase_data(tenant: Tenant, purchase: Purchase) -> dict[str, Any]:
    return {
        "id": purchase.id,
        "reference": purchase.reference,
        "amount": str(purchase.amount),
        "currency": tenant.currency,
        "points": purchase.points,
        "status": purchase.status,
        "location_id": purchase.location_id,
        "created_at": iso(purchase.created_at),
        "returned_at": iso(purchase.returned_at),
    }


def redemption_data(redemption: Redemption) -> dict[str, Any]:
    return {
        "id": redemption.id,
        "status": redemption.status,
        "reward_id": redemption.reward_id,
        "reward": redemption.reward.name,
        "points": redemption.points,
        "location_id": redemption.location_id,
        "created_at": iso(redemption.created_at),
    }


def envelope(event: str, data: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {"type": event, "timestamp": iso(at), "data": data}
