"""A points file ends the same whichever path runs it: row by row (`entry_recorded`
for each credit) or set-based (`entries_recorded` once a batch): the same entries,
the same "points received" e-mails, webhook events and referral payout, and a
re-upload tells nobody twice."""

from __future__ import annotations

import json
from email.utils import parseaddr

from pytest_httpserver import HTTPServer
from sqlalchemy import select

from core.loyalty.ledger import Entry
from core.loyalty.members import Membership
from core.loyalty.program import update_program
from plugins.csv_import import importing
from plugins.notifications.models import Delivery
from plugins.referrals.models import Referral
from plugins.webhooks import signing, subscriptions
from plugins.webhooks.models import Endpoint, Message
from tests.plugins.csv_import.helpers import counts, import_file

EMAILS = ("ana@mail.example", "bea@mail.example", "cid@mail.example")


def merchant(make_tenant, make_member, db, slug: str, hooks_url: str):
    """A merchant with three members, Bea invited by Ana (pending: paid at Bea's first
    earned points) and an endpoint that wants `points.earned`."""
    tenant = make_tenant(slug=slug, name=slug.title(), plan="white-label")
    members = [make_member(tenant, email=email, first_name=email[:3]) for email in EMAILS]
    with db(tenant) as session:
        update_program(session, {"points_per_amount": {"amount": "1000", "points": 1}})
        session.add(Referral(referrer_id=members[0].id, friend_id=members[1].id, status="pending"))
        session.add(
            Endpoint(
                url=hooks_url, events=["points.earned"], secret=signing.new_secret(), enabled=True
            )
        )
        session.commit()
    subscriptions.forget(tenant.id)  # this process's cache of who wants what
    return tenant


def outcome(db, tenant) -> dict:
    """What the import left, in words that do not depend on the ids: each member's
    entries, the e-mails' recipients, the webhook events and the referral."""
    with db(tenant) as session:
        email_of = {m.id: m.customer.email for m in session.scalars(select(Membership))}
        entries = sorted(
            (email_of[e.member_id], e.kind, e.points, e.balance_after, e.reference or "")
            for e in session.scalars(select(Entry))
        )
        deliveries = sorted(
            (d.template, d.recipient)
            for d in session.scalars(select(Delivery))
            if d.template != "welcome"
        )
        messages = sorted(
            (m.event, email_of[m.member_id], json.loads(m.body)["data"]["entry"]["points"])
            for m in session.scalars(select(Message))
        )
        referral = session.scalar(select(Referral))
        return {
            "entries": entries,
            "deliveries": deliveries,
            "messages": messages,
            "referral": (referral.status, referral.referrer_points, referral.friend_points),
        }


def test_a_points_file_ends_the_same_row_by_row_and_set_based(
    app, db, make_tenant, make_member, write_csv, monkeypatch, smtp_server, httpserver: HTTPServer
):
    httpserver.expect_request("/hooks").respond_with_data("ok")
    url = f"http://127.0.0.1:{httpserver.port}/hooks"
    path = write_csv(
        [
            ["email", "puntos", "descripcion", "referencia"],
            [EMAILS[0], "10", "Campaña", "R-1"],
            [EMAILS[1], "7", "Campaña", "R-2"],
            [EMAILS[2], "1.250", "Campaña", "R-3"],
            [EMAILS[1], "3", "Campaña", "R-4"],  # Bea's second earn: pays nothing more
            ["nadie@mail.example", "5", "", "R-5"],  # refused: tells nobody
        ]
    )
    found = {}
    for set_based in (False, True):
        tenant = merchant(make_tenant, make_member, db, f"shop-{set_based}".lower(), url)
        monkeypatch.setattr(importing, "set_based", lambda session, s=set_based: s)
        import_id = import_file(db, tenant, path, "points")
        assert counts(db, tenant, import_id)["granted"] == 4
        found[set_based] = outcome(db, tenant)
        # Uploaded again: nothing granted, nobody told again.
        again = import_file(db, tenant, path, "points")
        assert counts(db, tenant, again)["skipped"] == 4
        assert outcome(db, tenant) == found[set_based]

    row_by_row, set_based = found[False], found[True]
    assert set_based == row_by_row
    # And what they both are: four credits told by e-mail and webhook, Bea's first
    # earned points paying Ana's referral once.
    assert [d for d in row_by_row["deliveries"] if d[0] == "points_received"] == sorted(
        [("points_received", e) for e in (EMAILS[0], EMAILS[1], EMAILS[1], EMAILS[2])]
    )
    # The file's four credits, and Ana's referral payment (100) from Bea's first earn.
    earned = sorted(p for event, _e, p in row_by_row["messages"] if event == "points.earned")
    assert earned == [3, 7, 10, 100, 1250]
    assert row_by_row["referral"][0] == "paid"
    mailed = [parseaddr(m["To"])[1] for m in smtp_server.handler.messages]
    assert mailed.count(EMAILS[2]) == 2 * 2  # welcome and points, in each merchant
