"""Sends: batches of 500 through the real firebase-admin against the fake FCM; dead
tokens pruned, 503 and quota retried, never twice to a device; the schedule in the
merchant's zone (DST too); one merchant's send never reaches another's members."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from core.host.db import clock_at, platform_session, utcnow
from core.host.errors import Conflict, InvalidInput
from core.loyalty.members import Customer
from core.sdk import Tenant
from plugins.push import jobs, sends
from plugins.push.models import Delivery, DeliveryStatus, Device, Send, SendStatus


def campaign(db, tenant, audience=None, **fields) -> int:
    with db(tenant) as session:
        draft = sends.Draft(
            title=fields.pop("title", "Hola"),
            body=fields.pop("body", "Café gratis hoy"),
            audience=audience,
            **fields,
        )
        fresh = session.get(Tenant, tenant.id)  # its plan as stored now
        send = sends.create(session, fresh, draft, None)
        session.commit()
        return send.id


def report(db, tenant, send_id) -> sends.Report:
    with db(tenant) as session:
        return sends.report(session, session.get(Send, send_id))


def test_a_send_goes_out_in_batches_of_500_and_reports(
    db, shop, make_member, add_devices, fcm, monkeypatch
):
    members = [make_member(shop) for _ in range(3)]
    tokens = [f"tok-{n}" for n in range(1200)]
    for index, member in enumerate(members):
        add_devices(shop, member, *tokens[index * 400 : (index + 1) * 400])
    calls = []
    real = jobs.firebase.messaging.send_each

    def counting(messages, **kwargs):
        calls.append(len(messages))
        return real(messages, **kwargs)

    monkeypatch.setattr(jobs.firebase.messaging, "send_each", counting)
    send_id = campaign(db, shop)
    assert jobs.start_send(shop.id, send_id) == 1  # one job sends the three batches
    assert sorted(calls) == [200, 500, 500]
    assert sorted(fcm.tokens()) == sorted(tokens)
    assert report(db, shop, send_id) == sends.Report(1200, 1200, 0, 0, 0)
    message = fcm.delivered[0]
    assert message["data"]["title"] == "Hola" and message["data"]["body"] == "Café gratis hoy"
    assert message["webpush"]["headers"]["Urgency"] == "high"
    with db(shop) as session:
        assert session.get(Send, send_id).status == SendStatus.DONE


def test_a_start_writes_a_pending_delivery_per_device_500_to_a_batch(
    db, platform, shop, make_tenant, make_member, add_devices, fcm, monkeypatch
):
    monkeypatch.setattr(sends, "_CHUNK", 250)  # written while the query still streams
    other = make_tenant(slug="bar", plan="white-label")
    add_devices(other, make_member(other), "theirs-1")
    tokens = []
    for index in range(3):
        mine = [f"d{index}-{n}" for n in range(400)]
        add_devices(shop, make_member(shop), *mine)
        tokens += mine
    quiet, gone = make_member(shop), make_member(shop)
    add_devices(shop, quiet, "quiet-1")
    add_devices(shop, gone, "gone-1")
    with platform.sessions() as session:  # no news on the phone; a deleted account
        session.get(Customer, quiet.customer_id).mail_preferences = {"push:news": False}
        session.get(Customer, gone.customer_id).deleted_at = datetime(2026, 1, 1, tzinfo=UTC)
        session.commit()
    send_id = campaign(db, shop)
    with db(shop) as session:
        assert sends.start(session, shop, send_id) == [0, 1, 2]
        session.commit()
    with platform_session(platform.sessions) as session:  # every merchant's: none of another's
        rows = session.execute(
            select(Delivery.tenant_id, Delivery.token, Delivery.batch, Delivery.status)
            .where(Delivery.send_id == send_id)
            .order_by(Delivery.device_id)
        ).all()
    assert [row.token for row in rows] == tokens  # in the devices' order
    assert [row.batch for row in rows] == [n // 500 for n in range(1200)]
    assert {(row.tenant_id, row.status) for row in rows} == {(shop.id, DeliveryStatus.PENDING)}
    with db(shop) as session:
        assert session.get(Send, send_id).targeted == 1200
        assert sends.start(session, shop, send_id) == [0, 1, 2]  # again: only what waits
        session.commit()
    with db(shop) as session:
        assert session.scalar(select(func.count(Delivery.id))) == 1200  # nothing twice


def test_a_send_that_reaches_nobody_is_done_at_once(db, shop, make_member, add_devices, fcm):
    add_devices(shop, make_member(shop), "e-1")
    send_id = campaign(db, shop, audience={"min_balance": 1})
    jobs.start_send(shop.id, send_id)
    with db(shop) as session:
        assert session.get(Send, send_id).status == SendStatus.DONE
    assert report(db, shop, send_id) == sends.Report(0, 0, 0, 0, 0)
    assert fcm.tokens() == []


def test_dead_tokens_are_pruned_and_busy_answers_retried(db, shop, make_member, add_devices, fcm):
    ana = make_member(shop)
    add_devices(shop, ana, "ok-1", "dead-1", "bad-1", "flaky-1", "quota-1")
    send_id = campaign(db, shop)
    jobs.start_send(shop.id, send_id)
    assert Counter(fcm.tokens()) == Counter({"ok-1": 1, "flaky-1": 1, "quota-1": 1})
    assert fcm.attempts["flaky-1"] == 2  # the 503, then firebase-admin's retry
    assert fcm.attempts["quota-1"] == 2  # QUOTA_EXCEEDED, then our retry after a pause
    assert report(db, shop, send_id) == sends.Report(5, 3, 0, 2, 0)
    with db(shop) as session:
        assert sorted(session.scalars(select(Device.token))) == ["flaky-1", "ok-1", "quota-1"]


def test_a_message_refused_for_every_device_prunes_none(db, shop, make_member, add_devices, fcm):
    add_devices(shop, make_member(shop), "bad-1", "bad-2", "bad-3")  # all INVALID_ARGUMENT
    send_id = campaign(db, shop)
    jobs.start_send(shop.id, send_id)
    assert report(db, shop, send_id) == sends.Report(3, 0, 3, 0, 0)
    with db(shop) as session:
        errors = session.scalars(select(Delivery.error).where(Delivery.send_id == send_id))
        assert sorted(errors) == ["INVALID_ARGUMENT"] * 3  # each with FCM's code
    with db(shop) as session:  # the message was at fault: the devices are kept
        assert sorted(session.scalars(select(Device.token))) == ["bad-1", "bad-2", "bad-3"]


def test_a_retried_batch_never_sends_twice(db, shop, make_member, add_devices, fcm):
    add_devices(shop, make_member(shop), "a-1", "a-2")
    send_id = campaign(db, shop)
    jobs.start_send(shop.id, send_id)
    jobs.start_send(shop.id, send_id)  # the scheduler's tick, or a retried start
    jobs.send_batch(shop.id, send_id, 0)  # a retried batch job
    assert sorted(fcm.tokens()) == ["a-1", "a-2"]
    with db(shop) as session:
        assert session.scalar(select(Delivery.id).where(Delivery.send_id == send_id).limit(1))


def _taken(db, tenant, send_id, claim, at) -> None:
    """As a batch job that took the send's deliveries (and then died) left them."""
    with db(tenant) as session:
        for delivery in session.scalars(select(Delivery).where(Delivery.send_id == send_id)):
            delivery.status = DeliveryStatus.SENDING
            delivery.claim, delivery.taken_at = claim, at
        session.commit()


def test_a_batch_another_job_took_is_left_to_it_and_its_retry_sends_it(
    db, shop, make_member, add_devices, fcm
):
    add_devices(shop, make_member(shop), "b-1", "b-2")
    send_id = campaign(db, shop)
    with db(shop) as session:
        sends.start(session, shop, send_id)
        session.commit()
    _taken(db, shop, send_id, "theirs", utcnow())  # a job took them: it may be sending
    jobs.send_batch(shop.id, send_id, 0, 1, "mine")  # another job (a start run twice)
    jobs.start_send(shop.id, send_id)  # a start again: nothing waits for it to queue
    assert fcm.tokens() == []
    assert report(db, shop, send_id).waiting == 2
    with db(shop) as session:
        assert session.get(Send, send_id).status == SendStatus.SENDING
    # The job was killed mid-batch; rq runs it again, with its claim: it takes them back.
    jobs.send_batch(shop.id, send_id, 0, 1, "theirs")
    assert sorted(fcm.tokens()) == ["b-1", "b-2"]
    assert report(db, shop, send_id) == sends.Report(2, 2, 0, 0, 0)
    with db(shop) as session:
        assert session.get(Send, send_id).status == SendStatus.DONE


def test_a_batch_left_sending_by_a_job_long_gone_is_sent_by_the_next_start(
    db, shop, make_member, add_devices, fcm
):
    """Its job's retries spent, or Redis lost: STUCK later, the scheduler's tick starts
    the send again, which queues the batch for a job that takes it back."""
    add_devices(shop, make_member(shop), "g-1", "g-2")
    send_id = campaign(db, shop)
    with db(shop) as session:
        sends.start(session, shop, send_id)
        session.commit()
    _taken(db, shop, send_id, "gone", utcnow() - sends.STUCK + timedelta(minutes=1))
    assert jobs.start_send(shop.id, send_id) == 0  # maybe still sending: left alone
    assert fcm.tokens() == []
    _taken(db, shop, send_id, "gone", utcnow() - sends.STUCK - timedelta(minutes=1))
    with clock_at(utcnow() + sends.STUCK):
        assert jobs.tick() == [send_id]
    assert sorted(fcm.tokens()) == ["g-1", "g-2"]
    assert report(db, shop, send_id) == sends.Report(2, 2, 0, 0, 0)


def test_a_send_whose_last_job_left_it_sending_is_ended_by_the_next_start(
    db, shop, make_member, add_devices, fcm
):
    add_devices(shop, make_member(shop), "e-1")
    send_id = campaign(db, shop)
    jobs.start_send(shop.id, send_id)
    with db(shop) as session:  # as two batch jobs ending at once each saw the other's
        session.get(Send, send_id).status = SendStatus.SENDING
        session.commit()
    assert jobs.start_send(shop.id, send_id) == 0  # the tick's: nothing to queue
    with db(shop) as session:
        assert session.get(Send, send_id).status == SendStatus.DONE
    assert fcm.tokens() == ["e-1"]


def test_a_job_sends_several_batches_and_each_is_recorded_before_the_next(
    db, shop, make_member, add_devices, fcm, monkeypatch
):
    monkeypatch.setattr(jobs, "PER_JOB", 2)
    add_devices(shop, make_member(shop), *[f"m-{n}" for n in range(1100)])
    recorded = []
    real = jobs.firebase.send_batch

    def seeing(app, targets, content, **kwargs):  # what is recorded when a batch goes out
        with db(shop) as session:
            recorded.append(sends.report(session, session.get(Send, send_id)).sent)
        return real(app, targets, content, **kwargs)

    monkeypatch.setattr(jobs.firebase, "send_batch", seeing)
    send_id = campaign(db, shop)
    assert jobs.start_send(shop.id, send_id) == 2  # jobs: batches 0 and 1, then 2
    assert recorded == [0, 500, 1000]
    assert sorted(fcm.tokens()) == sorted(f"m-{n}" for n in range(1100))
    assert report(db, shop, send_id) == sends.Report(1100, 1100, 0, 0, 0)


def test_a_batch_whose_call_fails_whole_goes_back_to_pending_and_is_sent_on_retry(
    db, shop, make_member, add_devices, fcm, monkeypatch
):
    add_devices(shop, make_member(shop), "c-1", "c-2")
    send_id = campaign(db, shop, local_date=None)
    with db(shop) as session:
        sends.start(session, shop, send_id)
        session.commit()

    def unreachable(*args, **kwargs):
        raise ConnectionError("no route to FCM")

    real = jobs.firebase.send_batch
    monkeypatch.setattr(jobs.firebase, "send_batch", unreachable)
    with pytest.raises(ConnectionError):
        jobs.send_batch(shop.id, send_id, 0)
    assert report(db, shop, send_id).waiting == 2  # pending again, not "sending" for ever
    monkeypatch.setattr(jobs.firebase, "send_batch", real)
    jobs.send_batch(shop.id, send_id, 0)  # rq's retry
    assert sorted(fcm.tokens()) == ["c-1", "c-2"]


def test_one_merchants_send_never_reaches_another_merchants_members(
    db, shop, make_tenant, make_member, add_devices, fcm
):
    other = make_tenant(slug="bar", plan="white-label")
    add_devices(shop, make_member(shop), "mine-1")
    add_devices(other, make_member(other), "theirs-1")
    send_id = campaign(db, shop)
    jobs.start_send(shop.id, send_id)
    jobs.start_send(other.id, send_id)  # another merchant's id: nothing of ours moves
    assert fcm.tokens() == ["mine-1"]
    with db(other) as session:
        assert session.scalars(select(Delivery)).all() == []


@pytest.mark.parametrize(
    ("zone", "day", "at", "utc"),
    [
        # Friday 18:00 in Bogotá (no DST) is 23:00 UTC
        ("America/Bogota", date(2026, 12, 11), time(18), datetime(2026, 12, 11, 23, tzinfo=UTC)),
        # Santiago in summer (UTC-3) and in winter (UTC-4)
        ("America/Santiago", date(2027, 1, 15), time(18), datetime(2027, 1, 15, 21, tzinfo=UTC)),
        ("America/Santiago", date(2027, 7, 15), time(18), datetime(2027, 7, 15, 22, tzinfo=UTC)),
        # 00:30 does not exist on 5 Sep 2027 (clocks jump 00:00 → 01:00): read after the jump
        (
            "America/Santiago",
            date(2027, 9, 5),
            time(0, 30),
            datetime(2027, 9, 5, 4, 30, tzinfo=UTC),
        ),
        # 23:30 happens twice on 3 Apr 2027 (clocks go back 00:00 → 23:00): the first one
        (
            "America/Santiago",
            date(2027, 4, 3),
            time(23, 30),
            datetime(2027, 4, 4, 2, 30, tzinfo=UTC),
        ),
        # São Paulo still had DST in 2018: 4 Nov 00:30 was skipped
        (
            "America/Sao_Paulo",
            date(2018, 11, 4),
            time(0, 30),
            datetime(2018, 11, 4, 3, 30, tzinfo=UTC),
        ),
    ],
)
def test_a_local_time_is_read_in_the_merchants_zone(make_tenant, zone, day, at, utc):
    tenant = make_tenant(timezone=zone)
    assert sends.local_to_utc(tenant, day, at) == utc


def test_a_scheduled_send_waits_for_its_local_time(db, make_tenant, make_member, add_devices, fcm):
    shop = make_tenant(slug="sol", plan="white-label", timezone="America/Santiago")
    add_devices(shop, make_member(shop), "s-1")
    with clock_at(datetime(2027, 1, 14, 12, tzinfo=UTC)):
        send_id = campaign(db, shop, local_date=date(2027, 1, 15), local_time=time(18))
    with clock_at(datetime(2027, 1, 15, 20, 59, tzinfo=UTC)):  # 17:59 there
        jobs.tick()
    assert fcm.tokens() == []
    with clock_at(datetime(2027, 1, 15, 21, 0, tzinfo=UTC)):
        assert jobs.tick() == [send_id]
    assert fcm.tokens() == ["s-1"]


def test_a_scheduled_send_can_be_edited_or_cancelled_until_it_goes(
    db, shop, make_member, add_devices, fcm
):
    add_devices(shop, make_member(shop, birthday=date(1990, 12, 3)), "c-1")
    with clock_at(datetime(2026, 12, 1, 12, tzinfo=UTC)):
        send_id = campaign(db, shop, local_date=date(2026, 12, 11), local_time=time(18))
        with db(shop) as session:
            draft = sends.Draft(
                "Nuevo",
                "Otro texto",
                audience={"birthday_month": True},
                local_date=date(2026, 12, 12),
                local_time=time(9),
            )
            sends.update(session, shop, send_id, draft)
            session.commit()
            send = session.get(Send, send_id)
            assert send.send_at == datetime(2026, 12, 12, 14, tzinfo=UTC)
            assert send.audience == {"birthday_month": True}
        with db(shop) as session:
            sends.cancel(session, send_id)
            session.commit()
        with db(shop) as session, pytest.raises(Conflict):
            sends.cancel(session, send_id)
    with clock_at(datetime(2026, 12, 13, tzinfo=UTC)):
        jobs.tick()
    assert fcm.tokens() == []


def test_bad_input_is_refused_with_each_fields_message(db, shop):
    with clock_at(datetime(2026, 12, 5, 12, tzinfo=UTC)), db(shop) as session:
        draft = sends.Draft(
            "",
            "x" * 401,
            image="http://insecure.example/a.png",
            link="javascript:alert(1)",
            local_date=date(2026, 12, 1),
            local_time=time(9),
        )
        with pytest.raises(InvalidInput) as refused:
            sends.create(session, shop, draft, None)
        assert set(refused.value.fields) == {"title", "body", "image", "link", "local_date"}
        assert session.scalars(select(Send)).all() == []


def _set_limit(platform, value) -> None:
    from core.host.db import platform_session
    from tenants.models import Plan

    with platform_session(platform.sessions) as session:
        plan = session.scalar(select(Plan).where(Plan.code == "white-label"))
        limits = dict(plan.limits or {})
        limits.pop(sends.LIMIT, None)
        plan.limits = {**limits, sends.LIMIT: value} if value is not None else limits
        session.commit()


def test_the_plan_caps_the_sends_of_a_month(db, platform, shop):
    _set_limit(platform, 2)  # the plans are kept between tests: put it back after
    try:
        campaign(db, shop)
        campaign(db, shop)
        with pytest.raises(InvalidInput) as refused:
            campaign(db, shop)
        assert "2" in str(refused.value.message)
    finally:
        _set_limit(platform, None)
    campaign(db, shop)  # the seed (60 a month) again
