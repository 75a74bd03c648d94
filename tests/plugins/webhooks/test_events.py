"""The events' catalogue: every example valid under its schema, the entries' kinds
mapped to their events, and the OpenAPI 3.1 document that publishes them."""

from __future__ import annotations

import jsonschema_rs
import pytest

from core.loyalty.ledger import Entry
from plugins.webhooks import openapi
from plugins.webhooks.events import EVENTS, TEST, entry_event

NAMES = sorted(EVENTS)


def test_the_issues_events_are_all_there():
    assert set(NAMES) == {
        "member.created",
        "member.updated",
        "points.earned",
        "points.redeemed",
        "points.refunded",
        "points.expired",
        "points.adjusted",
        "purchase.recorded",
        "purchase.returned",
        "redemption.requested",
        "redemption.confirmed",
        "redemption.cancelled",
        "coupon.claimed",
        "tier.changed",
        "survey.answered",
    }


@pytest.mark.parametrize("name", [*NAMES, TEST.name])
def test_every_example_is_valid_under_its_schema(name):
    event = EVENTS.get(name, TEST)
    document = openapi.document()
    operation = document["webhooks"][name]["post"]
    media = operation["requestBody"]["content"]["application/json"]
    validator = jsonschema_rs.Draft202012Validator(media["schema"])
    validator.validate(media["example"])
    assert not validator.is_valid({**media["example"], "type": "something.else"})
    assert media["example"]["data"] == event.example
    headers = {p["name"] for p in operation["parameters"]}
    assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}


@pytest.mark.parametrize(
    ("kind", "points", "event"),
    [
        ("earn", 10, "points.earned"),
        ("welcome", 50, "points.earned"),
        ("tier_bonus", 2, "points.earned"),
        ("redeem", -100, "points.redeemed"),
        ("refund", 100, "points.refunded"),
        ("expire", -5, "points.expired"),
        ("adjust", 7, "points.adjusted"),
        ("adjust", -7, "points.adjusted"),
        ("return", -45, "points.adjusted"),
        ("cashback_payment", -3, "points.adjusted"),
    ],
)
def test_each_entry_kind_has_its_event(kind, points, event):
    assert entry_event(Entry(kind=kind, points=points)) == event


def test_the_document_is_openapi_3_1_with_webhooks_only():
    document = openapi.document()
    assert document["openapi"] == "3.1.0" and document["paths"] == {}
    assert set(document["webhooks"]) == {*NAMES, TEST.name}
    ids = [op["post"]["operationId"] for op in document["webhooks"].values()]
    assert len(ids) == len(set(ids))
