"""A person's choices of messages: `wanting_push`, the SQL form of `wants_push` that a
send to many members filters with, agrees with it for every kind of choice."""

from __future__ import annotations

from sqlalchemy import select

from core.host.db import utcnow
from core.loyalty.members import Customer, Membership, wanting_push, wants_push

CHOICES = [
    {},  # nothing chosen: everything wanted
    {"push:news": False},
    {"push:news": True, "push:points": False},
    {"news": False},  # e-mail only: the phone still gets news
    {"push:expiry": False, "points": False},
]


def test_the_sql_rule_agrees_with_the_python_rule(db, platform, make_tenant, make_member):
    shop = make_tenant()
    members = [make_member(shop) for _ in range(len(CHOICES) + 1)]
    with platform.sessions() as session:
        for member, choice in zip(members, CHOICES, strict=False):
            session.get(Customer, member.customer_id).mail_preferences = choice
        gone = session.get(Customer, members[-1].customer_id)
        gone.deleted_at = utcnow()  # a deleted account wants nothing
        session.commit()
    with db(shop) as session:
        people = session.scalars(select(Membership).order_by(Membership.id)).all()
        for topic in (None, "news", "points", "redemptions", "expiry"):
            expected = [m.id for m in people if wants_push(m.customer, topic)]
            found = session.scalars(
                select(Membership.id).where(wanting_push(topic)).order_by(Membership.id)
            ).all()
            assert found == expected, topic
            assert members[-1].id not in found
        # The rule is not vacuous: each choice above leaves someone out somewhere.
        assert session.scalars(select(Membership.id).where(wanting_push("news"))).all() != [
            m.id for m in people
        ]


def test_another_merchants_members_are_not_reached(db, make_tenant, make_member):
    shop, other = make_tenant(), make_tenant()
    mine = make_member(shop)
    make_member(other)
    with db(shop) as session:
        assert session.scalars(select(Membership.id).where(wanting_push("news"))).all() == [mine.id]
