"""The referral rules with concrete numbers: recording a friend who joins from a link,
paying once (after the welcome points, under concurrency), self-referrals, existing
members, the cap, the first purchase of at least an amount, and a return."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.host.actors import Actor
from core.host.db import clock_at, platform_session, utcnow
from core.host.settings import save_settings
from core.loyalty import joining
from core.loyalty.ledger import Entry, redeem
from core.loyalty.members import Customer, Membership
from core.loyalty.purchases import Purchase, give_points, record_purchase, return_purchase
from plugins.referrals import referrals
from plugins.referrals.models import Referral
from tests.concurrency import run_together, sessions  # noqa: F401  (fixture)


def configure(db, tenant, **values):
    with db(tenant) as session:
        save_settings(session, "referrals", referrals.ReferralSettings(), values)
        session.commit()


def person(app, email: str, first_name: str = "Bea") -> int:
    """A confirmed account of the customer app (not a member anywhere)."""
    with platform_session(app.extensions["premia"].sessions) as session:
        customer = Customer(email=email, first_name=first_name, email_confirmed_at=utcnow())
        session.add(customer)
        session.commit()
        return customer.id


def code_of(db, tenant, member_id: int) -> str:
    with db(tenant) as session:
        code = referrals.invite_code(session, session.get(Membership, member_id))
        session.commit()
        return code


def join_from_link(app, db, tenant, customer_id: int, via: str) -> Membership:
    with db(tenant) as session:
        customer = session.scalar(
            select(Customer).where(Customer.id == customer_id),
            execution_options={"person_lookup": True},
        )
        member = joining.join(
            session, customer, joined_via="app", actor=Actor.customer(customer.id), via=via
        )
        session.commit()
        return member


def kinds_and_points(db, tenant, member_id: int) -> list[tuple[str, int]]:
    with db(tenant) as session:
        return [
            (e.kind, e.points)
            for e in session.scalars(
                select(Entry).where(Entry.member_id == member_id).order_by(Entry.id)
            )
        ]


def balance(db, tenant, member_id: int) -> int:
    with db(tenant) as session:
        return session.get(Membership, member_id).balance


def referral_of(db, tenant, friend_id: int) -> Referral | None:
    with db(tenant) as session:
        return session.scalar(select(Referral).where(Referral.friend_id == friend_id))


def test_the_inviter_is_paid_once_at_the_friends_first_earn_never_at_welcome(app, db, shop, ana):
    configure(db, shop, referrer_points=100, friend_points=20)
    code = code_of(db, shop, ana.id)
    assert len(code) == 10 and code == code_of(db, shop, ana.id)  # drawn once

    friend = join_from_link(app, db, shop, person(app, "bea@example.com"), referrals.via(code))
    # The welcome points (50) were given when Bea joined: they pay nothing.
    assert kinds_and_points(db, shop, friend.id) == [("welcome", 50)]
    assert referral_of(db, shop, friend.id).status == "pending"
    assert balance(db, shop, ana.id) == 50

    with db(shop) as session:
        record_purchase(session, session.get(Membership, friend.id), "12000", actor=Actor.system())
        session.commit()
    assert kinds_and_points(db, shop, ana.id) == [("welcome", 50), ("referral", 100)]
    assert kinds_and_points(db, shop, friend.id) == [
        ("welcome", 50),
        ("earn", 12),
        ("referral_friend", 20),
    ]
    paid = referral_of(db, shop, friend.id)
    assert (paid.status, paid.referrer_points, paid.friend_points) == ("paid", 100, 20)

    # Later earns pay nothing more.
    with db(shop) as session:
        give_points(session, session.get(Membership, friend.id), 30, actor=Actor.system())
        session.commit()
    assert balance(db, shop, ana.id) == 50 + 100
    assert balance(db, shop, friend.id) == 50 + 12 + 20 + 30


def test_a_self_referral_is_recorded_as_refused_and_never_paid(app, db, shop, ana):
    code = code_of(db, shop, ana.id)
    # The same Gmail mailbox: case, dots and a +tag aside.
    twin = join_from_link(
        app, db, shop, person(app, "Ana.Maria+points@googlemail.com"), referrals.via(code)
    )
    refused = referral_of(db, shop, twin.id)
    assert (refused.status, refused.reason) == ("refused", "self")
    with db(shop) as session:
        give_points(session, session.get(Membership, twin.id), 10, actor=Actor.system())
        session.commit()
    assert balance(db, shop, ana.id) == 50


def test_mailboxes_differ_where_the_provider_does_not_ignore_dots_or_tags():
    assert referrals.same_mailbox("Ana.Maria+x@Gmail.com", "anamaria@gmail.com")
    assert referrals.same_mailbox("ana+x@outlook.com", "ANA@outlook.com")
    assert not referrals.same_mailbox("ana.maria@empresa.co", "anamaria@empresa.co")
    assert not referrals.same_mailbox("ana+x@empresa.co", "ana@empresa.co")


def test_an_existing_member_is_no_referral(app, db, shop, ana, make_member):
    code = code_of(db, shop, ana.id)
    old = make_member(shop, email="old@example.com")
    with db(shop) as session:
        customer = session.get(Membership, old.id).customer
        customer.email_confirmed_at = utcnow()
        session.commit()
        # Opening the link and "joining" again changes nothing: they were a member.
        again = joining.join(
            session,
            customer,
            joined_via="app",
            actor=Actor.customer(customer.id),
            via=referrals.via(code),
        )
        session.commit()
    assert again.id == old.id
    assert referral_of(db, shop, old.id) is None
    with db(shop) as session:
        give_points(session, session.get(Membership, old.id), 10, actor=Actor.system())
        session.commit()
    assert balance(db, shop, ana.id) == 50


def test_another_merchants_link_or_an_unknown_code_records_nothing(app, db, shop, ana, make_tenant):
    bar = make_tenant(slug="bar")
    code = code_of(db, shop, ana.id)
    friend = join_from_link(app, db, bar, person(app, "bea@example.com"), referrals.via(code))
    assert referral_of(db, bar, friend.id) is None
    other = join_from_link(app, db, shop, person(app, "cid@example.com"), "referrals:ZZZZZZZZZZ")
    assert referral_of(db, shop, other.id) is None


def test_the_monthly_cap_holds_and_a_new_month_pays_again(app, db, shop, ana):
    configure(db, shop, referrer_points=100, monthly_cap=2)
    code = code_of(db, shop, ana.id)
    friends = [
        join_from_link(app, db, shop, person(app, f"f{i}@example.com"), referrals.via(code))
        for i in range(4)
    ]
    with clock_at(datetime(2026, 12, 10, 15, tzinfo=UTC)):
        for friend in friends[:3]:
            with db(shop) as session:
                give_points(session, session.get(Membership, friend.id), 5, actor=Actor.system())
                session.commit()
    statuses = [(r.status, r.reason) for r in (referral_of(db, shop, f.id) for f in friends)]
    assert statuses[:3] == [("paid", None), ("paid", None), ("refused", "cap")]
    assert balance(db, shop, ana.id) == 50 + 200
    # January, in Bogotá: the cap starts again.
    with clock_at(datetime(2027, 1, 1, 6, tzinfo=UTC)), db(shop) as session:
        give_points(session, session.get(Membership, friends[3].id), 5, actor=Actor.system())
        session.commit()
    assert referral_of(db, shop, friends[3].id).status == "paid"
    assert balance(db, shop, ana.id) == 50 + 300


def test_first_purchase_of_at_least_an_amount_pays_and_its_return_takes_it_back(app, db, shop, ana):
    configure(
        db,
        shop,
        referrer_points=100,
        friend_points=10,
        pays_on="first_purchase",
        min_purchase="20000",
        return_days=30,
    )
    code = code_of(db, shop, ana.id)
    friend = join_from_link(app, db, shop, person(app, "bea@example.com"), referrals.via(code))
    with db(shop) as session:
        member = session.get(Membership, friend.id)
        give_points(session, member, 5, actor=Actor.system())  # no purchase: nothing
        record_purchase(session, member, "19999", actor=Actor.system())  # too small
        session.commit()
    assert referral_of(db, shop, friend.id).status == "pending"
    with db(shop) as session:
        purchase, _entries = record_purchase(
            session, session.get(Membership, friend.id), "20000", actor=Actor.system()
        )
        session.commit()
        purchase_id = purchase.id
    paid = referral_of(db, shop, friend.id)
    assert (paid.status, paid.purchase_id) == ("paid", purchase_id)
    assert balance(db, shop, ana.id) == 50 + 100

    # Ana spent 120 of her 150 points; the return takes back the 30 left.
    with db(shop) as session:
        redeem(session, session.get(Membership, ana.id), 120, actor=Actor.system())
        session.commit()
    with db(shop) as session:
        return_purchase(session, session.get(Purchase, purchase_id), actor=Actor.system())
        session.commit()
    assert kinds_and_points(db, shop, ana.id)[-1] == ("referral_return", -30)
    assert balance(db, shop, ana.id) == 0
    # Bea: welcome 50 + 5 + 19 + 20 + friend 10 = 104; the return takes 20 and the 10.
    assert balance(db, shop, friend.id) == 104 - 20 - 10
    assert referral_of(db, shop, friend.id).status == "reversed"


def test_a_return_after_the_window_keeps_the_referral_points(app, db, shop, ana):
    configure(db, shop, referrer_points=100, pays_on="first_purchase", return_days=30)
    code = code_of(db, shop, ana.id)
    friend = join_from_link(app, db, shop, person(app, "bea@example.com"), referrals.via(code))
    with db(shop) as session:
        purchase, _ = record_purchase(
            session, session.get(Membership, friend.id), "5000", actor=Actor.system()
        )
        session.commit()
        purchase_id = purchase.id
    with clock_at(utcnow() + timedelta(days=31)), db(shop) as session:
        return_purchase(session, session.get(Purchase, purchase_id), actor=Actor.system())
        session.commit()
    assert balance(db, shop, ana.id) == 50 + 100
    assert referral_of(db, shop, friend.id).status == "paid"


@pytest.mark.postgres
def test_twenty_concurrent_first_earns_pay_the_inviter_once(app, db, shop, ana, sessions):  # noqa: F811
    configure(db, shop, referrer_points=100, friend_points=20)
    code = code_of(db, shop, ana.id)
    friend = join_from_link(app, db, shop, person(app, "bea@example.com"), referrals.via(code))

    def first_earn(i: int) -> int:
        # Each commit runs the hook's job (in-process here): twenty settlements race.
        with sessions(shop.id) as session:
            entry = give_points(
                session, session.get(Membership, friend.id), 1, actor=Actor.system()
            )
            session.commit()
            return entry.id

    outcomes = run_together(app, 20, first_earn)
    assert [kind for kind, _ in outcomes] == ["ok"] * 20
    assert kinds_and_points(db, shop, ana.id) == [("welcome", 50), ("referral", 100)]
    bea = kinds_and_points(db, shop, friend.id)
    assert bea.count(("earn", 1)) == 20 and bea.count(("referral_friend", 20)) == 1
    assert balance(db, shop, ana.id) == 50 + 100
    assert balance(db, shop, friend.id) == 50 + 20 + 20
    assert referral_of(db, shop, friend.id).status == "paid"
