"""The claim rules: points once per code and customer, the stock exact under
concurrency, refusals (used, expired, not yet, deactivated, out of stock, unknown,
another merchant's), joining where not a member, the plan's monthly limit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.host.db import clock_at
from core.loyalty.ledger import Entry
from core.loyalty.members import Membership
from plugins.coupons import campaigns, claims
from plugins.coupons.models import Campaign, Claim, Code
from tests.concurrency import outcomes, run_together, unexpected_errors
from tests.plugins.coupons.conftest import TODAY, customer_in, person


def claim(app, db, tenant, customer_id: int, code: str):
    with db(tenant) as session:
        made = claims.claim(session, tenant, customer_in(session, customer_id), code)
        session.commit()
        return made.points, made.member_id


def balance(db, tenant, member_id: int) -> int:
    with db(tenant) as session:
        return session.get(Membership, member_id).balance


def test_a_single_use_code_credits_once_and_makes_a_member(app, db, shop, make_campaign):
    _campaign, codes = make_campaign(shop)
    bea = person(app, "bea@mail.example")
    points, member_id = claim(app, db, shop, bea, codes[0].lower())  # typed in lower case
    assert points == 100
    assert balance(db, shop, member_id) == 50 + 100  # joined: welcome points, then the coupon
    with db(shop) as session:
        entry = session.scalar(select(Entry).where(Entry.kind == claims.KIND))
        assert (entry.points, entry.description) == (100, "BIENVENIDA2027")
        assert entry.idempotency_key.startswith("system:coupon:")
        code = session.scalar(select(Code).where(Code.code == codes[0]))
        assert code.claimed_by == member_id and code.claimed_at is not None
        assert session.get(Campaign, code.campaign_id).claimed == 1
    # The same person again, then another person: used.
    with pytest.raises(claims.AlreadyClaimed):
        claim(app, db, shop, bea, codes[0])
    with pytest.raises(claims.Used):
        claim(app, db, shop, person(app, "cid@mail.example"), codes[0])
    assert balance(db, shop, member_id) == 150
    # Another code of the campaign still pays.
    claim(app, db, shop, bea, codes[1])
    assert balance(db, shop, member_id) == 250


def test_a_shared_code_pays_each_customer_once_up_to_its_stock(app, db, shop, make_campaign):
    _campaign, [code] = make_campaign(shop, kind="shared", stock=2, points=30)
    assert len(code) == 10
    bea, cid, dora = (person(app, f"{n}@mail.example") for n in ("bea", "cid", "dora"))
    claim(app, db, shop, bea, code)
    with pytest.raises(claims.AlreadyClaimed):
        claim(app, db, shop, bea, code)
    claim(app, db, shop, cid, code)
    with pytest.raises(claims.SoldOut):
        claim(app, db, shop, dora, code)
    with db(shop) as session:
        assert session.scalar(select(func.count(Claim.id))) == 2
        assert session.scalar(select(Campaign.claimed)) == 2


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        (
            {"ends_on": TODAY - timedelta(days=1), "starts_on": TODAY - timedelta(days=9)},
            claims.Expired,
        ),
        ({"starts_on": TODAY + timedelta(days=2)}, claims.NotYet),
    ],
)
def test_dates_are_the_merchants_local_days(app, db, shop, make_campaign, fields, error):
    _campaign, codes = make_campaign(shop, **fields)
    with pytest.raises(error):
        claim(app, db, shop, person(app, "bea@mail.example"), codes[0])


def test_the_last_day_ends_at_midnight_in_bogota_not_in_utc(app, db, shop, make_campaign):
    _campaign, codes = make_campaign(
        shop, starts_on=date(2027, 1, 1), ends_on=date(2027, 1, 31), count=2
    )
    bea = person(app, "bea@mail.example")
    # 04:59 UTC on 1 February is 23:59 on 31 January in Bogotá: still valid.
    with clock_at(datetime(2027, 2, 1, 4, 59, tzinfo=UTC)):
        claim(app, db, shop, bea, codes[0])
    with clock_at(datetime(2027, 2, 1, 5, 0, tzinfo=UTC)), pytest.raises(claims.Expired):
        claim(app, db, shop, bea, codes[1])


def test_an_uploaded_expiry_overrides_the_campaigns(app, db, shop, make_campaign):
    _campaign, codes = make_campaign(shop)
    with db(shop) as session:
        session.execute(
            Code.__table__.update()
            .where(Code.code == codes[0])
            .values(expires_on=TODAY - timedelta(days=1))
        )
        session.commit()
    with pytest.raises(claims.Expired):
        claim(app, db, shop, person(app, "bea@mail.example"), codes[0])


def test_deactivated_codes_and_campaigns_are_refused(app, db, shop, make_campaign):
    campaign, codes = make_campaign(shop)
    bea = person(app, "bea@mail.example")
    with db(shop) as session:
        code_id = session.scalar(select(Code.id).where(Code.code == codes[0]))
        campaigns.deactivate_code(session, code_id)
        session.commit()
    with pytest.raises(claims.Inactive):
        claim(app, db, shop, bea, codes[0])
    with db(shop) as session:
        campaigns.deactivate_campaign(session, campaign.id)
        session.commit()
    with pytest.raises(claims.Inactive):
        claim(app, db, shop, bea, codes[1])


def test_unknown_and_another_merchants_codes_read_the_same(app, db, shop, other, make_campaign):
    _campaign, theirs = make_campaign(other)
    bea = person(app, "bea@mail.example")
    for text in (theirs[0], "ZZZZZZZZZZ", "no!", ""):
        with pytest.raises(claims.Unknown) as refused:
            claim(app, db, shop, bea, text)
        assert refused.value.status == 404
    with db(other) as session:  # nothing changed at the other merchant
        assert session.scalar(select(func.count(Claim.id))) == 0
        assert session.scalar(select(Code.claimed_by).where(Code.code == theirs[0])) is None


def test_the_free_plans_monthly_limit_counts_codes_and_shared_claims(
    app, db, make_tenant, make_campaign
):
    free = make_tenant(slug="libre", plan="free")  # 100 a month
    with pytest.raises(Exception) as refused:
        make_campaign(free, count=101)
    assert "100" in str(refused.value.fields["count"])
    make_campaign(free, count=98)
    _campaign, [code] = make_campaign(free, kind="shared", stock=None)  # 99 used
    claim(app, db, free, person(app, "bea@mail.example"), code)  # 100
    with pytest.raises(claims.SoldOut):
        claim(app, db, free, person(app, "cid@mail.example"), code)
    with db(free) as session:
        assert claims.used_this_month(session, free) == 100


def test_codes_are_unguessable_and_typable(app, db, shop, make_campaign):
    _campaign, codes = make_campaign(shop, count=500)
    assert len(set(codes)) == 500
    assert all(
        len(code) == 10 and set(code) <= set("23456789ABCDEFGHJKMNPQRSTUVWXYZ") for code in codes
    )


def _claim_in(sessions, tenant, customer_id: int, code: str) -> str:
    with sessions(tenant.id) as session:
        try:
            claims.claim(session, tenant, customer_in(session, customer_id), code)
        except claims.Refused as refused:
            session.rollback()
            return refused.reason
        session.commit()
        return "paid"


@pytest.mark.postgres
def test_fifty_concurrent_claims_of_a_stock_of_ten_credit_exactly_ten(
    app, db, shop, make_campaign, sessions
):
    campaign, [code] = make_campaign(shop, kind="shared", stock=10, points=7)
    people = [person(app, f"p{n}@mail.example") for n in range(50)]
    results = run_together(app, 50, lambda i: _claim_in(sessions, shop, people[i], code))
    assert unexpected_errors(results) == []
    assert outcomes(results) == {"paid": 10, "coupon_out_of_stock": 40}
    with db(shop) as session:
        assert session.scalar(select(Campaign.claimed).where(Campaign.id == campaign.id)) == 10
        assert session.scalar(select(func.count(Claim.id))) == 10
        assert session.scalar(select(func.count(Entry.id)).where(Entry.kind == claims.KIND)) == 10
        assert session.scalar(select(func.sum(Entry.points)).where(Entry.kind == claims.KIND)) == 70


@pytest.mark.postgres
def test_one_single_use_code_claimed_by_twenty_at_once_pays_one(
    app, db, shop, make_campaign, sessions
):
    _campaign, codes = make_campaign(shop, count=1)
    people = [person(app, f"q{n}@mail.example") for n in range(20)]
    results = run_together(app, 20, lambda i: _claim_in(sessions, shop, people[i], codes[0]))
    assert unexpected_errors(results) == []
    assert outcomes(results) == {"paid": 1, "coupon_used": 19}
    with db(shop) as session:
        assert session.scalar(select(func.count(Entry.id)).where(Entry.kind == claims.KIND)) == 1


@pytest.mark.postgres
def test_one_person_claiming_a_shared_code_ten_times_at_once_is_paid_once(
    app, db, shop, make_campaign, sessions
):
    _campaign, [code] = make_campaign(shop, kind="shared", stock=None)
    bea = person(app, "bea@mail.example")
    claim(app, db, shop, bea, make_campaign(shop, name="Otra")[1][0])  # a member already
    results = run_together(app, 10, lambda i: _claim_in(sessions, shop, bea, code))
    assert unexpected_errors(results) == []
    assert outcomes(results) == {"paid": 1, "coupon_already_claimed": 9}


@pytest.mark.postgres
def test_the_monthly_limit_holds_when_many_claim_its_last_places_at_once(
    app, db, make_tenant, make_campaign, sessions
):
    free = make_tenant(slug="libre", plan="free")  # 100 a month
    make_campaign(free, count=95)
    _campaign, [code] = make_campaign(free, kind="shared", stock=None)  # 96 used: 4 left
    people = [person(app, f"r{n}@mail.example") for n in range(20)]
    results = run_together(app, 20, lambda i: _claim_in(sessions, free, people[i], code))
    assert unexpected_errors(results) == []
    assert outcomes(results) == {"paid": 4, "coupon_out_of_stock": 16}
    with db(free) as session:
        assert claims.used_this_month(session, free) == 100
