"""The API's schemas, strictly: what each field takes, and what the document says it refuses."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.loyalty.members import Membership
from core.loyalty.program import get_program
from core.loyalty.purchases import Purchase
from plugins.api.schemas import AMOUNT_PATTERN, NAME_PATTERN, TEXT_PATTERN

from .test_views import create_customer

ARABIC_INDIC_100 = "\u0661\u0660\u0660"  # ١٠٠


@pytest.mark.parametrize(
    "field, value",
    [
        ("first_name", ""),
        ("first_name", "   "),
        ("last_name", ""),
        ("last_name", "\u3000"),
        ("first_name", "Ana\x00"),
        ("last_name", "N\x1b[31m"),
        ("first_name", "A\ud800"),
    ],
)
def test_names_are_not_blank_nor_control_characters(call, token, shop, db, field, value):
    body = {"email": "ana@example.com", "first_name": "Ana", "last_name": "Núñez", field: value}
    answer = call("POST", "/customers", token, json=body)
    assert answer.status_code == 422, answer.json
    assert list(answer.json["errors"]) == [field]
    with db(shop) as session:
        assert session.scalar(select(func.count()).select_from(Membership)) == 0


def test_names_are_kept_without_the_spaces_around_them(call, token):
    created = create_customer(call, token, first_name="  Ana ", last_name="Núñez\u00a0")
    assert (created["first_name"], created["last_name"]) == ("Ana", "Núñez")


@pytest.mark.parametrize(
    "birthday", ["1899-12-31", "0001-01-01", "1990-5-17", "\u0661\u0669\u0669\u0660-05-17"]
)
def test_birthdays_start_in_1900_and_are_written_in_iso(call, token, birthday):
    answer = call(
        "POST",
        "/customers",
        token,
        json={
            "email": "ana@example.com",
            "first_name": "Ana",
            "last_name": "N",
            "birthday": birthday,
        },
    )
    assert answer.status_code == 422, answer.json
    assert list(answer.json["errors"]) == ["birthday"]


@pytest.mark.parametrize(
    "path, method, body",
    [
        ("/program", "PATCH", {"description_field": 0}),
        ("/program", "PATCH", {"customer_redemption_requests": 1}),
        ("/program", "PATCH", {"description_field": "false"}),
        ("/rewards", "POST", {"name": "Café", "points": 10, "stock": None, "active": 0}),
        ("/rewards", "POST", {"name": "Café", "points": 10, "stock": None, "active": "yes"}),
    ],
)
def test_booleans_are_true_or_false_only(call, token, path, method, body):
    answer = call(method, path, token, json=body)
    assert answer.status_code == 422, answer.json
    assert answer.json["errors"][
        next(
            k for k in body if k in {"description_field", "customer_redemption_requests", "active"}
        )
    ] == ["Indica true o false."]


@pytest.mark.parametrize("path", ["/program", "/rewards/{reward_id}"])
@pytest.mark.parametrize("data", [None, "{}"])
def test_a_patch_names_at_least_one_field(call, token, shop, db, path, data):
    reward = call("POST", "/rewards", token, json={"name": "Café", "points": 10, "stock": 3})
    path = path.format(reward_id=reward.json["id"])
    answer = call("PATCH", path, token, data=data)
    assert answer.status_code == 422, answer.json
    assert answer.json["errors"] == {"body": ["Indica al menos un campo para cambiar."]}


@pytest.mark.parametrize(
    "amount",
    [
        "1_000",
        " 100 ",
        "100 ",
        "+100",
        "1e3",
        "0x10",
        ARABIC_INDIC_100,
        "１００",
        "100.",
        ".5",
        "0",
        "0.00",
        "00100",
        "12.345",
        "10000000000",
        0,
        0.001,
        -5,
        True,
        [100],
    ],
)
def test_amounts_are_plain_decimal_numbers(call, token, shop, db, amount):
    code = create_customer(call, token)["code"]
    answer = call("POST", f"/customers/{code}/points", token, json={"amount": amount})
    assert answer.status_code == 422, answer.json
    assert list(answer.json["errors"]) == ["amount"]
    with db(shop) as session:
        assert session.scalar(select(func.count()).select_from(Purchase)) == 0


@pytest.mark.parametrize(
    "amount, points",
    [
        ("45000", 45),
        ("45999.99", 45),
        ("0.5", 0),
        ("9999999999.99", 9999999),
        (45000, 45),
        (45000.5, 45),
    ],
)
def test_plain_amounts_are_taken(call, token, amount, points):
    code = create_customer(call, token)["code"]
    answer = call("POST", f"/customers/{code}/points", token, json={"amount": amount})
    assert answer.status_code == 201, answer.json
    assert answer.json["points"] == points


def test_the_equivalence_takes_plain_amounts_only(call, token, shop, db):
    for amount in ("1_000", ARABIC_INDIC_100, " 1000", "0"):
        answer = call(
            "PATCH", "/program", token, json={"points_per_amount": {"amount": amount, "points": 1}}
        )
        assert answer.status_code == 422, (amount, answer.json)
    with db(shop) as session:
        assert get_program(session)["points_per_amount"]["amount"] == Decimal("1000")


@pytest.mark.parametrize(
    "pattern, good, bad",
    [
        (
            TEXT_PATTERN,
            ["", "Ana", "línea\ncon\ttab", "\u00a0", "😀"],
            ["\x00", "a\x07", "\x7f", "\x9b"],
        ),
        (NAME_PATTERN, ["Ana", " Ana ", "José\u00a0Luis"], ["", " ", "\u3000\u00a0", "A\x00"]),
        (
            AMOUNT_PATTERN,
            ["1", "0.5", "0.05", "0.50", "9999999999.99", "45000.1"],
            ["0", "0.0", "0.00", "01", "1.", ".5", "1.234", "1_000", " 1", "10000000000", "١"],
        ),
    ],
)
def test_the_documented_patterns_say_what_is_refused(pattern, good, bad):
    """The patterns in the OpenAPI document are the ones the API applies."""
    assert [g for g in good if not re.search(pattern, g)] == []
    assert [b for b in bad if re.search(pattern, b)] == []
