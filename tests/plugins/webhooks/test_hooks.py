"""What the platform's announcements become: one event per ledger entry (its kind and
label), members created and updated, purchases recorded and returned, redemptions
requested, confirmed and cancelled; each body valid under its documented schema; one
merchant's events never reach another's endpoints; a merchant with no endpoint writes
nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import jsonschema_rs
from sqlalchemy import func, select

from core.host.actors import Actor
from core.host.db import clock_at
from core.loyalty import expiry
from core.loyalty.bulk_enrolment import NewMember, enrol_in_bulk
from core.loyalty.customers import update_member
from core.loyalty.ledger import lock_member
from core.loyalty.members import Membership
from core.loyalty.program import update_program
from core.loyalty.purchases import Purchase, record_purchase, return_part, return_purchase
from core.loyalty.rewards import cancel, confirm, create_reward, redeem_reward, request_reward
from plugins.coupons import campaigns, claims
from plugins.nps import surveys
from plugins.nps.models import Survey
from plugins.webhooks import hooks, openapi
from plugins.webhooks.events import EVENTS
from plugins.webhooks.models import Attempt, Delivery, Message
from tests.plugins.webhooks.conftest import url_of
from tests.plugins.webhooks.helpers import give, received

ALL = sorted(EVENTS)


def _valid(body: dict) -> None:
    event = EVENTS[body["type"]]
    jsonschema_rs.Draft202012Validator(openapi.body_schema(event)).validate(body)


def _events(server) -> list[str]:
    bodies = [body for _headers, body in received(server)]
    for body in bodies:
        _valid(body)
    return [body["type"] for body in bodies]


def test_members_created_and_updated(db, shop, make_member, make_endpoint, receiver):
    receiver.expect_request("/hooks").respond_with_data("ok")
    make_endpoint(shop, url_of(receiver), ALL)
    member = make_member(shop, first_name="Ana")
    with db(shop) as session:
        update_member(session, lock_member(session, member.id), phone="+57 300 1")
        session.commit()
    assert _events(receiver) == ["member.created", "member.updated"]
    created, updated = (body["data"]["member"] for _h, body in received(receiver))
    assert created["first_name"] == "Ana" and created["phone"] is None
    assert updated["phone"] == "+57 300 1" and updated["code"] == member.code


def test_a_purchase_and_its_return(db, shop, make_member, make_endpoint, receiver):
    receiver.expect_request("/hooks").respond_with_data("ok")
    member = make_member(shop)
    make_endpoint(shop, url_of(receiver), ALL)
    with db(shop) as session:
        update_program(session, {"points_per_amount": {"amount": "1000", "points": 1}})
        purchase, entries = record_purchase(
            session,
            lock_member(session, member.id),
            "45000",
            actor=Actor.system(),
            reference="FV-1",
        )
        session.commit()
        purchase_id, entry_id = purchase.id, entries[0].id
    with db(shop) as session:
        return_purchase(session, session.get(type(purchase), purchase_id), actor=Actor.system())
        session.commit()
    assert _events(receiver) == [
        "points.earned",
        "purchase.recorded",
        "points.adjusted",
        "purchase.returned",
    ]
    bodies = [body["data"] for _h, body in received(receiver)]
    assert bodies[1]["purchase"]["reference"] == "FV-1"
    assert bodies[1]["purchase"]["amount"] == "45000.00"
    assert [e["id"] for e in bodies[1]["entries"]] == [entry_id]
    assert bodies[2]["entry"]["kind"] == "return" and bodies[2]["entry"]["points"] == -45
    assert bodies[3]["purchase"]["status"] == "returned"
    assert bodies[3]["entry"]["points"] == -45


def test_a_purchase_returned_in_two_parts(db, shop, make_member, make_endpoint, receiver):
    receiver.expect_request("/hooks").respond_with_data("ok")
    member = make_member(shop)
    with db(shop) as session:
        update_program(session, {"points_per_amount": {"amount": "1000", "points": 1}})
        purchase, _entries = record_purchase(
            session, lock_member(session, member.id), "40000", actor=Actor.system()
        )
        session.commit()
        purchase_id = purchase.id
    make_endpoint(shop, url_of(receiver), ["purchase.returned"])
    for amount in ("10000", None):  # a quarter, then the rest
        with db(shop) as session:
            return_part(
                session, session.get(Purchase, purchase_id), actor=Actor.system(), amount=amount
            )
            session.commit()
    assert _events(receiver) == ["purchase.returned", "purchase.returned"]
    part, rest = (body["data"] for _h, body in received(receiver))
    assert part["part"] == {
        "amount": "10000.00",
        "points": 10,
        "points_not_recovered": 0,
        "lines": [],
    }
    assert part["entry"]["points"] == -10 and part["purchase"]["status"] != "returned"
    assert rest["part"] is None and rest["entry"]["points"] == -30
    assert rest["purchase"]["status"] == "returned"


def test_redemptions_requested_confirmed_and_cancelled(
    db, shop, make_member, make_endpoint, receiver
):
    receiver.expect_request("/hooks").respond_with_data("ok")
    member = make_member(shop)
    give(db, shop, member, 500)
    make_endpoint(shop, url_of(receiver), ALL)
    with db(shop) as session:
        update_program(session, {"customer_redemption_requests": True})
        reward = create_reward(session, name="Café", points=100)
        session.commit()
        at_till = redeem_reward(
            session, lock_member(session, member.id), reward, actor=Actor.system()
        )
        session.commit()
        asked = request_reward(session, lock_member(session, member.id), reward)
        session.commit()
        confirm(session, asked, actor=Actor.system())
        session.commit()
        again = request_reward(session, lock_member(session, member.id), reward)
        session.commit()
        cancel(session, again, actor=Actor.system())
        session.commit()
        till_id = at_till.id
    assert _events(receiver) == [
        "points.redeemed",
        "redemption.confirmed",
        "points.redeemed",
        "redemption.requested",
        "redemption.confirmed",
        "points.redeemed",
        "redemption.requested",
        "points.refunded",
        "redemption.cancelled",
    ]
    first = received(receiver)[1][1]["data"]["redemption"]
    assert first["id"] == till_id and first["reward"] == "Café" and first["points"] == 100


def test_one_merchants_events_never_reach_another_merchants_endpoints(
    db, make_shop, make_member, make_endpoint, receiver
):
    receiver.expect_request("/a").respond_with_data("ok")
    receiver.expect_request("/b").respond_with_data("ok")
    a, b = make_shop(), make_shop()
    make_endpoint(a, url_of(receiver, "/a"), ALL)
    make_endpoint(b, url_of(receiver, "/b"), ALL)
    give(db, a, make_member(a))
    assert {request.path for request, _r in receiver.log} == {"/a"}
    with db(b) as session:
        assert session.scalar(select(func.count(Message.id))) == 0


def test_a_merchant_without_endpoints_writes_no_message(db, shop, make_member):
    give(db, shop, make_member(shop))
    with db(shop) as session:
        assert session.scalar(select(func.count(Message.id))) == 0


def test_switched_off_for_the_merchant_nothing_is_sent(
    db, shop, make_member, make_endpoint, receiver, platform
):
    receiver.expect_request("/hooks").respond_with_data("ok")
    make_endpoint(shop, url_of(receiver), ALL)
    with db(shop) as session:
        platform.plugins.switch(session, shop, "webhooks", False)
        session.commit()
    give(db, shop, make_member(shop))
    assert receiver.log == []


def test_a_coupon_claimed_a_tier_changed_and_a_survey_answered(
    db, shop, make_member, make_endpoint, receiver, platform
):
    """The events other plugins announce through `happened`, from their own services."""
    receiver.expect_request("/hooks").respond_with_data("ok")
    member = make_member(shop)
    today = datetime.now(ZoneInfo(shop.timezone)).date()
    with db(shop) as session:
        update_program(session, {"points_per_amount": {"amount": "1000", "points": 1}})
        platform.plugins.save_settings(
            session,
            "tiers",
            {
                "tiers": [
                    {"code": "plata", "name": "Plata", "multiplier": "1", "threshold": "0"},
                    {"code": "oro", "name": "Oro", "multiplier": "1.2", "threshold": "500000"},
                ]
            },
        )
        campaign = campaigns.create_campaign(
            session,
            shop,
            name="NAVIDAD",
            points=30,
            starts_on=today - timedelta(days=1),
            ends_on=today + timedelta(days=5),
            kind="single",
            count=1,
        )
        session.commit()
        [row] = campaigns.code_rows(session, campaign, today)
        code_text = row.code.code
    make_endpoint(shop, url_of(receiver), ["coupon.claimed", "tier.changed", "survey.answered"])
    with db(shop) as session:
        code, found = claims.find_code(session, code_text)
        claim = claims.claim_as_member(session, shop, lock_member(session, member.id), code, found)
        session.commit()
        claim_id = claim.id
    with db(shop) as session:
        record_purchase(session, lock_member(session, member.id), "600000", actor=Actor.system())
        session.commit()
    with db(shop) as session:
        survey = Survey(
            member_id=member.id,
            event="earn",
            source_id=1,
            bonus=5,
            expires_at=datetime.now(UTC) + timedelta(days=3),
        )
        session.add(survey)
        session.commit()
        surveys.answer(session, survey.id, 9, "Muy bien", actor=Actor.system())
        session.commit()
        survey_id = survey.id
    assert _events(receiver) == ["coupon.claimed", "tier.changed", "survey.answered"]
    claimed, tier, answered = (body["data"] for _h, body in received(receiver))
    assert claimed["claim_id"] == claim_id and claimed["campaign"] == "NAVIDAD"
    assert claimed["points"] == 30 and claimed["member"]["code"] == member.code
    assert (tier["to"], tier["to_name"], tier["upgrade"]) == ("oro", "Oro", True)
    assert answered["survey_id"] == survey_id and answered["score"] == 9
    assert answered["comment"] == "Muy bien" and answered["bonus"] == 5


def test_expired_points_are_one_event_per_entry(db, shop, make_member, make_endpoint, receiver):
    """The expiry is set-based (`points_expired` tells only a count): its entries are read
    back, and a repeated announcement sends none twice."""
    receiver.expect_request("/hooks").respond_with_data("ok")
    members = [make_member(shop), make_member(shop)]
    with db(shop) as session:
        update_program(session, {"expiry_months": 1})
        session.commit()
    earned = datetime(2026, 1, 20, 15, tzinfo=UTC)
    with clock_at(earned):
        for member in members:
            give(db, shop, member, 10)
    make_endpoint(shop, url_of(receiver), ["points.expired"])
    run = datetime(2026, 3, 1, 12, tzinfo=UTC)
    with clock_at(run):
        assert expiry.expire_month(shop.id, run.isoformat()) == 2
        hooks.points_expired(shop, 2)  # announced again: nothing new
    assert _events(receiver) == ["points.expired", "points.expired"]
    got = {body["data"]["member"]["code"]: body["data"]["entry"] for _h, body in received(receiver)}
    assert set(got) == {m.code for m in members}
    assert {(e["kind"], e["points"], e["balance_after"]) for e in got.values()} == {
        ("expire", -10, 0)
    }


def test_a_shared_person_shows_each_merchant_its_own_record(
    db, make_shop, make_member, make_endpoint, receiver
):
    receiver.expect_request("/b").respond_with_data("ok")
    a, b = make_shop(), make_shop()
    make_member(a, "ana@shared.example", first_name="Alfonsina", last_name="Storni")
    make_endpoint(b, url_of(receiver, "/b"), ["member.created"])
    make_member(b, "ana@shared.example", first_name="Beatriz", last_name="Guido")
    [(_headers, body)] = received(receiver)
    member = body["data"]["member"]
    assert (member["first_name"], member["last_name"]) == ("Beatriz", "Guido")
    assert "Alfonsina" not in json.dumps(body)


def test_a_deleted_persons_events_are_deleted_with_their_log(
    db, shop, make_member, make_endpoint, receiver
):
    receiver.expect_request("/hooks").respond_with_data("ok")
    make_endpoint(shop, url_of(receiver), ALL)
    ana, bea = make_member(shop), make_member(shop)
    give(db, shop, ana)
    give(db, shop, bea)
    with db(shop) as session:
        hooks.member_erased(session, shop, session.get(Membership, ana.id), "ana@mail.example")
        session.commit()
        kept = session.scalars(select(Message.member_id)).all()
        assert set(kept) == {bea.id} and len(kept) == 2  # bea: created, earned
        assert session.scalar(select(func.count(Delivery.id))) == 2
        assert session.scalar(select(func.count(Attempt.id))) == 2


def test_an_imports_customers_are_each_a_member_created_event(
    db, shop, make_endpoint, receiver, monkeypatch
):
    monkeypatch.setattr(hooks, "ENROLLED_CHUNK", 2)  # three members: two jobs
    receiver.expect_request("/hooks").respond_with_data("ok")
    make_endpoint(shop, url_of(receiver), ["member.created"])
    with db(shop) as session:
        ids = enrol_in_bulk(
            session,
            [NewMember(f"{name}@mail.example", name.title()) for name in ("ana", "bea", "cid")],
            actor=Actor.system(),
        )
        session.commit()
    bodies = [body for _h, body in received(receiver)]
    emails = sorted(body["data"]["member"]["email"] for body in bodies)
    assert emails == ["ana@mail.example", "bea@mail.example", "cid@mail.example"]
    assert {body["type"] for body in bodies} == {"member.created"}
    hooks.publish_members_created(shop.id, ids)  # a job run twice: nothing new
    assert len(received(receiver)) == 3
