"""Campaigns as the services make them: codes drawn without clashes, a campaign
created whole or not at all, each code's status, and the demo's campaigns (the
`fill_demo` hook)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.host.errors import InvalidInput
from core.loyalty.ledger import Entry
from plugins.coupons import campaigns, claims, codes
from plugins.coupons.models import Campaign, Claim, Code
from tests.plugins.coupons.conftest import TODAY


def test_a_refused_campaign_writes_nothing(db, shop):
    with db(shop) as session, pytest.raises(InvalidInput) as refused:
        campaigns.create_campaign(
            session, shop, name=" ", points=0, starts_on=TODAY, ends_on=None, kind="single", count=5
        )
    assert set(refused.value.fields) == {"name", "points"}
    with db(shop) as session:
        assert session.scalar(select(func.count(Campaign.id))) == 0


def test_a_code_drawn_twice_is_drawn_again(db, shop, make_campaign, monkeypatch):
    _campaign, [taken] = make_campaign(shop, count=1)
    drawn = iter([taken, taken, "NEWCODE234"])
    monkeypatch.setattr(codes, "new_code", lambda: next(drawn))
    with db(shop) as session:
        assert campaigns.draw_codes(session, 1) == ["NEWCODE234"]


def test_each_codes_status(db, shop, make_campaign):
    campaign, made = make_campaign(shop, ends_on=TODAY + timedelta(days=3))
    with db(shop) as session:
        rows = {row.code.code: row for row in campaigns.code_rows(session, campaign, TODAY)}
        assert {row.status for row in rows.values()} == {campaigns.CodeStatus.AVAILABLE}
        later = campaigns.code_rows(session, campaign, TODAY + timedelta(days=4))
        assert {row.status for row in later} == {campaigns.CodeStatus.EXPIRED}
        campaigns.deactivate_code(session, rows[made[0]].code.id)
        session.commit()
        statuses = {
            row.code.code: row.status for row in campaigns.code_rows(session, campaign, TODAY)
        }
        assert statuses[made[0]] == campaigns.CodeStatus.INACTIVE


def test_fill_demo_adds_two_campaigns_and_three_claims(app, db, shop, make_member, platform):
    members = [make_member(shop) for _ in range(3)]
    with db(shop) as session:
        platform.plugins.ask(session, "fill_demo")
        session.commit()
    with db(shop) as session:
        names = set(session.scalars(select(Campaign.name)))
        assert names == {"Volante Chapinero", "BIENVENIDA2027"}
        assert session.scalar(select(func.count(Code.id))) == 24 + 1
        assert sorted(session.scalars(select(Claim.member_id))) == sorted(m.id for m in members)
        assert session.scalar(select(func.count(Entry.id)).where(Entry.kind == claims.KIND)) == 3
