"""The tiers' period end, run by the hourly tick at each tenant's local midnight."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from plugins.tiers import jobs
from plugins.tiers.models import TierMember, TierRun
from tests.core import recorder_plugin
from tests.plugins.tiers.conftest import buy, utc

pytestmark = pytest.mark.premia_plugins(recorder_plugin)


def tier_of(db, tenant, member_id):
    with db(tenant) as session:
        return session.scalar(select(TierMember.tier).where(TierMember.member_id == member_id))


def test_monthly_run_at_each_tenants_local_midnight(make_shop, make_member, db, recorder):
    bogota, tokyo = make_shop(), make_shop(timezone="Asia/Tokyo")
    a, b = make_member(bogota), make_member(tokyo)
    buy(db, bogota, a.id, "600000", at=utc(2026, 2, 10))
    buy(db, tokyo, b.id, "600000", at=utc(2026, 2, 10))
    # 1 March 00:00 in Tokyo is 28 Feb 15:00 UTC; in Bogotá, 1 March 05:00 UTC.
    # First tick: February's period end was never processed (it changes nothing).
    assert jobs.tick(utc(2026, 2, 28, 14, 59)) == [bogota.id, tokyo.id]
    assert jobs.tick(utc(2026, 2, 28, 14, 59)) == []
    assert jobs.tick(utc(2026, 2, 28, 15, 0)) == [tokyo.id]
    assert jobs.tick(utc(2026, 3, 1, 4, 59)) == []
    assert jobs.tick(utc(2026, 3, 1, 5, 30)) == [bogota.id]
    assert jobs.tick(utc(2026, 3, 20)) == []  # done for March
    assert (tier_of(db, bogota, a.id), tier_of(db, tokyo, b.id)) == ("oro", "oro")
    recorder.calls.clear()
    # Nothing bought in March: both lose Oro on 1 April.
    assert sorted(jobs.tick(utc(2026, 4, 1, 5, 30))) == sorted([bogota.id, tokyo.id])
    assert (tier_of(db, bogota, a.id), tier_of(db, tokyo, b.id)) == ("plata", "plata")
    told = sorted(
        (slug, detail[0], detail[1], detail[2]["to"])
        for hook, slug, detail in recorder.calls
        if hook == "notify"
    )
    assert told == sorted(
        [(bogota.slug, "tier_changed", a.id, "plata"), (tokyo.slug, "tier_changed", b.id, "plata")]
    )
    with db(bogota) as session:
        runs = session.scalars(select(TierRun).order_by(TierRun.id)).all()
        assert [(r.period, r.as_of, r.changed) for r in runs] == [
            ("M2026-02", utc(2026, 2, 1, 5), 0),
            ("M2026-03", utc(2026, 3, 1, 5), 0),
            ("M2026-04", utc(2026, 4, 1, 5), 1),
        ]


def test_the_job_run_twice_changes_nothing_the_second_time(make_shop, make_member, db):
    shop = make_shop()
    member = make_member(shop)
    buy(db, shop, member.id, "600000", at=utc(2026, 3, 10))
    now = utc(2026, 5, 1, 6)
    assert jobs.run_period_end(shop.id, now.isoformat()) == 1
    assert jobs.run_period_end(shop.id, now.isoformat()) == 0
    assert jobs.tick(now) == []


def test_rolling_period_runs_every_local_midnight(make_shop, make_member, db):
    shop = make_shop(period="rolling", rolling_days=7)
    member = make_member(shop)
    buy(db, shop, member.id, "500000", at=utc(2026, 5, 1, 12))  # 07:00 in Bogotá
    assert jobs.tick(utc(2026, 5, 8, 5, 30)) == [shop.id]  # window from 1 May 05:00 UTC
    assert tier_of(db, shop, member.id) == "oro"
    assert jobs.tick(utc(2026, 5, 8, 23)) == []  # same local day
    assert jobs.tick(utc(2026, 5, 9, 5, 0)) == [shop.id]
    assert tier_of(db, shop, member.id) == "plata"


def test_tenants_without_tiers_or_with_the_plugin_off_are_not_queued(
    make_shop, make_tenant, db, platform
):
    empty = make_shop(tiers=[])
    off = make_shop()
    with db(off) as session:
        from tenants.models import Tenant

        platform.plugins.switch(session, session.get(Tenant, off.id), "tiers", False)
        session.commit()
    make_tenant()  # free plan: no tiers plugin
    assert jobs.tick(utc(2026, 3, 1, 5, 30)) == []
    assert empty.id and off.id


def test_the_tick_is_declared_as_a_periodic_job(platform):
    names = {job.name: job for job in platform.jobs.periodic}
    assert names["tiers.tick"].every == 3600
    assert timedelta(seconds=names["tiers.tick"].every) == timedelta(hours=1)
