"""The kept totals (customers, points outstanding) equal a full count of the memberships
after every kind of write, under concurrent earns on PostgreSQL, per merchant; the
hourly audit finds and repairs a broken one; Inicio shows them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from core.customer_app.data_rights import delete_account
from core.host.actors import Actor
from core.host.db import clock_at, platform_session
from core.loyalty import expiry, ledger, member_totals, rewards
from core.loyalty.members import Membership
from core.loyalty.program import update_program
from core.loyalty.purchases import get_purchase, record_purchase, return_purchase
from core.testing.weblogin import figures, login
from tests.concurrency import run_together, unexpected_errors

STAFF = Actor.staff(1)


@pytest.fixture
def shop(make_tenant, db, platform):
    tenant = make_tenant()
    with db(tenant) as session:
        platform.plugins.switch(session, tenant, "notifications", False)  # no e-mail here
        update_program(
            session,
            {
                "points_per_amount": {"amount": "1000", "points": 1},
                "customer_redemption_requests": True,
            },
        )
        session.commit()
    return tenant


def counted(db, tenant) -> member_totals.Totals:
    with db(tenant) as session:
        members, points = session.execute(
            select(func.count(Membership.id), func.coalesce(func.sum(Membership.balance), 0))
        ).one()
    return member_totals.Totals(members, points)


def kept(db, tenant) -> member_totals.Totals:
    with db(tenant) as session:
        return member_totals.current(session)


def assert_sound(db, tenant, members: int, points: int) -> None:
    assert counted(db, tenant) == member_totals.Totals(members, points)
    assert kept(db, tenant) == member_totals.Totals(members, points)


def test_totals_follow_every_kind_of_write(shop, make_member, db):
    assert_sound(db, shop, 0, 0)
    ana, bea = make_member(shop), make_member(shop)
    assert_sound(db, shop, 2, 0)
    with db(shop) as session:  # the ledger's earn
        ledger.earn(session, session.get(Membership, ana.id), points=500, actor=STAFF)
        session.commit()
    assert_sound(db, shop, 2, 500)
    with db(shop) as session:  # a purchase: on PostgreSQL the earn's one-statement CTE
        purchase, _ = record_purchase(
            session, session.get(Membership, bea.id), "300000", actor=STAFF
        )
        session.commit()
        purchase_id = purchase.id
    assert_sound(db, shop, 2, 800)
    with db(shop) as session:  # a redemption, then a request cancelled (its refund)
        reward = rewards.create_reward(session, name="Café", points=100)
        session.flush()
        rewards.redeem_reward(session, session.get(Membership, ana.id), reward, actor=STAFF)
        request = rewards.request_reward(session, session.get(Membership, ana.id), reward)
        session.commit()
    assert_sound(db, shop, 2, 600)
    with db(shop) as session:
        rewards.cancel(session, rewards.get_redemption(session, request.id), actor=STAFF)
        session.commit()
    assert_sound(db, shop, 2, 700)
    with db(shop) as session:  # a returned purchase takes its points back
        return_purchase(session, get_purchase(session, purchase_id), actor=STAFF)
        session.commit()
    assert_sound(db, shop, 2, 400)
    with db(shop) as session:  # an adjustment down, then bulk credits (imports, welcome)
        ledger.adjust(
            session, session.get(Membership, ana.id), -50, actor=STAFF, description="error"
        )
        ledger.credit_in_bulk(
            session,
            [
                ledger.BulkCredit(ana.id, 10, ledger.system_key("bulk", 1)),
                ledger.BulkCredit(bea.id, 20, ledger.system_key("bulk", 2)),
            ],
            kind=ledger.Kind.ADJUST,
            actor=STAFF,
        )
        session.commit()
    assert_sound(db, shop, 2, 380)


def test_expiry_and_erasure_keep_the_totals(shop, make_member, db, platform):
    with db(shop) as session:
        update_program(session, {"expiry_months": 12})
        session.commit()
    when = datetime(2025, 1, 10, 15, tzinfo=UTC)
    with clock_at(when):
        member = make_member(shop)
        with db(shop) as session:
            ledger.earn(session, session.get(Membership, member.id), points=70, actor=STAFF)
            session.commit()
    other = make_member(shop)
    with db(shop) as session:
        ledger.earn(session, session.get(Membership, other.id), points=30, actor=STAFF)
        session.commit()
    assert_sound(db, shop, 2, 100)
    with db(shop) as session:
        assert expiry.expire_lots(session, when + timedelta(days=800)) == 1
        session.commit()  # SQLite: in the session's transaction (PostgreSQL: committed)
    assert_sound(db, shop, 2, 30)
    # Erasing the person keeps the membership (anonymised), its balance and entries.
    with platform_session(platform.sessions) as session:
        customer_id = session.get(Membership, other.id).customer_id
        delete_account(session, customer_id)
        session.commit()
    assert_sound(db, shop, 2, 30)


def test_deleted_memberships_leave_the_totals(shop, make_member, db):
    # No service deletes a membership today; a plugin's or an operator's statement might.
    members = [make_member(shop) for _ in range(3)]
    with db(shop) as session:
        ledger.earn(session, session.get(Membership, members[0].id), points=40, actor=STAFF)
        session.commit()
    with db(shop) as session:
        session.execute(
            text("DELETE FROM memberships WHERE id = :m1 OR id = :m2"),
            {"m1": members[1].id, "m2": members[2].id},
        )
        session.commit()
    assert_sound(db, shop, 1, 40)


def test_each_merchant_keeps_its_own(shop, make_tenant, make_member, db):
    other = make_tenant()
    member = make_member(other)
    with db(other) as session:
        ledger.earn(session, session.get(Membership, member.id), points=9, actor=STAFF)
        session.commit()
    make_member(shop)
    assert_sound(db, shop, 1, 0)
    assert_sound(db, other, 1, 9)
    with db(shop) as session:  # a tenant session sees only its own stripes
        assert {row.tenant_id for row in session.scalars(select(member_totals.MemberTotals))} == {
            shop.id
        }


def test_a_rolled_back_write_leaves_nothing(shop, make_member, db):
    member = make_member(shop)
    with db(shop) as session:
        ledger.earn(session, session.get(Membership, member.id), points=25, actor=STAFF)
        session.rollback()
    assert_sound(db, shop, 1, 0)


def test_the_audit_finds_and_repairs_a_broken_counter(shop, make_tenant, make_member, db, caplog):
    member = make_member(shop)
    fine = make_tenant()
    make_member(fine)
    with db(shop) as session:
        ledger.earn(session, session.get(Membership, member.id), points=60, actor=STAFF)
        session.commit()
    assert member_totals.audit_all() == []
    # Broken by hand: the triggers watch the memberships, not these rows.
    with db(shop) as session:
        session.execute(
            text("UPDATE member_totals SET members = members + 5, points = 1 WHERE tenant_id = :t"),
            {"t": shop.id},
        )
        session.commit()
    broken = kept(db, shop)
    assert broken != counted(db, shop)
    drifts = member_totals.audit_all()
    assert [(d.tenant_id, d.counted) for d in drifts] == [(shop.id, member_totals.Totals(1, 60))]
    assert drifts[0].kept == broken
    assert "drifted" in caplog.text
    assert_sound(db, shop, 1, 60)
    assert_sound(db, fine, 1, 0)
    assert member_totals.audit_all() == []


def test_inicio_shows_the_kept_totals(client, shop, make_member, db):
    member = make_member(shop)
    with db(shop) as session:
        ledger.earn(session, session.get(Membership, member.id), points=1234, actor=STAFF)
        # Set apart from the memberships, to see which one the page reads.
        session.execute(
            text(
                "UPDATE member_totals SET points = points + 1000000 WHERE tenant_id = :t"
                " AND stripe = (SELECT min(stripe) FROM member_totals WHERE tenant_id = :t)"
            ),  # one stripe: which ones the earns wrote depends on the pool's connections
            {"t": shop.id},
        )
        session.commit()
    login(client, db, shop)
    shown = figures(client.get(f"/t/{shop.slug}/panel/").get_data(as_text=True))
    assert shown["Puntos en circulación"] == "1.001.234"
    assert shown["Clientes"] == "1"


@pytest.mark.postgres
def test_concurrent_earns_keep_the_totals(app, shop, make_member, db, sessions):
    members = [make_member(shop) for _ in range(8)]

    def work(i: int) -> None:
        for n in range(5):
            with sessions(shop.id) as session:
                member = session.get(Membership, members[(i + n) % len(members)].id)
                record_purchase(session, member, "10000", actor=STAFF)
                ledger.earn(session, member, points=1, actor=STAFF)
                session.commit()

    results = run_together(app, 12, work)
    assert not unexpected_errors(results)
    assert_sound(db, shop, 8, 12 * 5 * (10 + 1))
    with db(shop) as session:  # spread over several stripes: the earns did not queue on one
        stripes = session.scalar(select(func.count()).select_from(member_totals.MemberTotals))
    assert 1 < stripes <= member_totals.STRIPES
