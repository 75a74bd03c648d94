"""Delivering: signed requests to a real local receiver, verified with the Standard
Webhooks library; retries with exponential backoff on 500s and timeouts (the clock
moved, never slept), the same webhook-id on every retry; after about three days of
failures the endpoint is switched off and the merchant e-mailed; re-sends."""

from __future__ import annotations

import time
from datetime import timedelta
from email.header import decode_header, make_header

from sqlalchemy import select
from standardwebhooks.webhooks import Webhook
from werkzeug import Response

from core.host.db import clock_at, utcnow
from core.testing.weblogin import owner_email
from plugins.webhooks import jobs
from plugins.webhooks.models import Attempt, Delivery, DeliveryStatus, Endpoint, Message
from tests.plugins.webhooks.conftest import url_of
from tests.plugins.webhooks.helpers import give, received, text_of


def _one(session, model):
    return session.scalars(select(model)).one()


def test_an_event_is_posted_signed_and_the_receiver_verifies_it(
    db, shop, make_member, make_endpoint, receiver
):
    receiver.expect_request("/hooks", method="POST").respond_with_data("thanks", status=200)
    endpoint = make_endpoint(shop, url_of(receiver), ["points.earned"])
    member = make_member(shop)
    entry_id = give(db, shop, member, 25)

    [(headers, body)] = received(receiver)
    request, _response = receiver.log[0]
    # The receiver's side: the reference library checks the signature and the timestamp.
    assert Webhook(endpoint.secret).verify(request.get_data(), headers) == body
    assert body["type"] == "points.earned"
    assert body["data"]["entry"]["id"] == entry_id
    assert body["data"]["entry"]["points"] == 25
    assert body["data"]["entry"]["kind"] == "earn"
    assert body["data"]["entry"]["label"] == "Puntos acumulados"  # the merchant's language
    assert body["data"]["member"]["code"] == member.code
    assert body["data"]["member"]["balance"] == 25
    assert headers["user-agent"].startswith("Premia-Webhooks")
    with db(shop) as session:
        delivery, attempt = _one(session, Delivery), _one(session, Attempt)
        assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 1
        assert attempt.status_code == 200 and attempt.response == "thanks"
        assert headers["webhook-id"] == _one(session, Message).uid


def test_an_endpoint_gets_only_the_events_it_chose(db, shop, make_member, make_endpoint, receiver):
    receiver.expect_request("/hooks", method="POST").respond_with_data("ok")
    make_endpoint(shop, url_of(receiver), ["member.created"])
    member = make_member(shop)
    give(db, shop, member)
    assert [body["type"] for _h, body in received(receiver)] == ["member.created"]


def test_500s_are_retried_with_backoff_under_the_same_id_until_a_2xx(
    db, shop, make_member, make_endpoint, receiver
):
    answers = iter([500, 503, 200])
    receiver.expect_request("/hooks").respond_with_handler(
        lambda request: Response("busy", status=next(answers))
    )
    make_endpoint(shop, url_of(receiver))
    start = utcnow()
    with clock_at(start):
        give(db, shop, make_member(shop))
        assert jobs.tick() == 0  # the first retry is not due yet
    assert len(receiver.log) == 1
    with clock_at(start + timedelta(seconds=59)):
        assert jobs.tick() == 0
    with clock_at(start + timedelta(minutes=1, seconds=1)):
        assert jobs.tick() == 1  # 1 minute after the first failure
    with clock_at(start + timedelta(minutes=2, seconds=30)):
        assert jobs.tick() == 0  # the second waits 2 minutes
    with clock_at(start + timedelta(minutes=3, seconds=2)):
        assert jobs.tick() == 1
    with clock_at(start + timedelta(days=4)):
        assert jobs.tick() == 0  # delivered: nothing more
    got = received(receiver)
    assert len(got) == 3
    assert len({headers["webhook-id"] for headers, _b in got}) == 1
    assert len({headers["webhook-timestamp"] for headers, _b in got}) == 3
    assert got[0][1] == got[2][1]  # the same body every time
    with db(shop) as session:
        delivery = _one(session, Delivery)
        assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 3
        codes = session.scalars(select(Attempt.status_code).order_by(Attempt.id)).all()
        assert codes == [500, 503, 200]


def test_a_receiver_slower_than_the_timeout_is_retried(
    db, shop, make_member, make_endpoint, receiver
):
    slow = iter([True, False])

    def answer(request):
        if next(slow):
            time.sleep(1.0)  # the receiver's delay, past the app's 0.5 s timeout
        return Response("ok")

    receiver.expect_request("/hooks").respond_with_handler(answer)
    make_endpoint(shop, url_of(receiver))
    start = utcnow()
    with clock_at(start):
        give(db, shop, make_member(shop))
    with db(shop) as session:
        attempt = _one(session, Attempt)
        assert attempt.status_code is None and attempt.error == "timeout"
        assert _one(session, Delivery).status == DeliveryStatus.PENDING
    with clock_at(start + timedelta(minutes=1, seconds=1)):
        assert jobs.tick() == 1
    with db(shop) as session:
        assert _one(session, Delivery).status == DeliveryStatus.SUCCEEDED


def test_three_days_of_failures_switch_the_endpoint_off_and_email_the_merchant(
    db, shop, make_member, make_endpoint, receiver, smtp_server
):
    receiver.expect_request("/hooks").respond_with_data("down", status=500)
    endpoint = make_endpoint(shop, url_of(receiver))
    start = utcnow()
    with clock_at(start):
        give(db, shop, make_member(shop))
    moment = start
    for delay in jobs.BACKOFF:
        moment += delay + timedelta(seconds=1)
        with clock_at(moment - timedelta(seconds=2)):
            assert jobs.tick() == 0  # never early
        with clock_at(moment):
            assert jobs.tick() == 1
    assert len(receiver.log) == jobs.ATTEMPTS == 13
    assert timedelta(days=2.5) < moment - start < timedelta(days=3.5)
    with db(shop) as session:
        assert _one(session, Delivery).status == DeliveryStatus.FAILED
        switched = session.get(Endpoint, endpoint.id)
        assert not switched.enabled and switched.disabled_reason == "failing"
    [mail] = smtp_server.handler.wait_for(1)
    assert mail["To"] == owner_email(db, shop)
    assert "desactivó un destino de webhooks" in str(make_header(decode_header(mail["Subject"])))
    assert endpoint.url in text_of(mail) and "/panel/webhooks/" in text_of(mail)
    # Switched off: nothing more goes there.
    with clock_at(moment + timedelta(days=1)):
        give(db, shop, make_member(shop))
        assert jobs.tick() == 0
    assert len(receiver.log) == 13


def test_a_success_elsewhere_in_those_days_keeps_the_endpoint_on(
    db, shop, make_member, make_endpoint, receiver
):
    receiver.expect_request("/hooks").respond_with_data("down", status=500)
    endpoint = make_endpoint(shop, url_of(receiver))
    start = utcnow()
    member = make_member(shop)
    with clock_at(start):
        give(db, shop, member)
    with db(shop) as session:
        first = _one(session, Delivery).id
        # Another delivery of those days was answered with a 2xx.
        session.add(
            Attempt(
                delivery_id=first,
                at=start + timedelta(hours=1),
                timestamp=0,
                status_code=204,
                response="",
                duration_ms=3,
            )
        )
        session.commit()
    moment = start
    for delay in jobs.BACKOFF:
        moment += delay + timedelta(seconds=1)
        with clock_at(moment):
            jobs.tick()
    with db(shop) as session:
        assert session.get(Delivery, first).status == DeliveryStatus.FAILED
        assert session.get(Endpoint, endpoint.id).enabled


def test_a_job_queued_twice_sends_once(db, shop, make_member, make_endpoint, receiver):
    receiver.expect_request("/hooks").respond_with_data("ok")
    make_endpoint(shop, url_of(receiver))
    give(db, shop, make_member(shop))
    with db(shop) as session:
        delivery_id = _one(session, Delivery).id
    assert jobs.deliver(shop.id, delivery_id, 0) is None  # its attempt 0 was made
    assert len(receiver.log) == 1


def test_a_lost_job_is_queued_again_once_its_lease_passes(
    db, shop, make_member, make_endpoint, receiver, platform, monkeypatch
):
    receiver.expect_request("/hooks").respond_with_data("ok")
    make_endpoint(shop, url_of(receiver))
    lost = []
    monkeypatch.setattr(platform.jobs, "enqueue", lambda job, *args: lost.append(job))
    start = utcnow()
    with clock_at(start):
        give(db, shop, make_member(shop))
    assert lost.count(jobs.deliver) == 1 and receiver.log == []
    monkeypatch.undo()
    with clock_at(start + jobs.LEASE - timedelta(seconds=1)):
        assert jobs.tick() == 0
    with clock_at(start + jobs.LEASE + timedelta(seconds=1)):
        assert jobs.tick() == 1
    assert len(receiver.log) == 1


def test_resend_sends_the_same_message_again(db, shop, make_member, make_endpoint, receiver):
    receiver.expect_request("/hooks").respond_with_data("ok")
    make_endpoint(shop, url_of(receiver))
    give(db, shop, make_member(shop))
    with db(shop) as session:
        jobs.resend(session, _one(session, Delivery))
        session.commit()
    first, second = received(receiver)
    assert first[0]["webhook-id"] == second[0]["webhook-id"] and first[1] == second[1]
