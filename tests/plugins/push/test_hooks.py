"""Transactional pushes beside e-mail: points received, a redemption confirmed or
cancelled, points about to expire; each once, in the person's language, only to those
who want that topic on their phone; a deleted account's devices go."""

from __future__ import annotations

from sqlalchemy import select

from core.host.actors import Actor
from core.loyalty import ledger
from core.loyalty.members import Customer, Membership
from core.loyalty.program import update_program
from core.loyalty.rewards import cancel, confirm, create_reward, request_reward
from core.sdk import notify
from plugins.push.hooks import member_erased
from plugins.push.models import Device, Send


def earn(db, tenant, member, points):
    with db(tenant) as session:
        entry = ledger.earn(
            session, ledger.lock_member(session, member.id), points=points, actor=Actor.system()
        )
        session.commit()
        return entry


def bodies(fcm) -> list[str]:
    return [m["data"]["body"] for m in fcm.delivered]


def test_points_received_are_pushed_once_in_the_persons_language(
    db, platform, shop, make_member, add_devices, fcm
):
    ana = make_member(shop)
    add_devices(shop, ana, "ana-1")
    earn(db, shop, ana, 120)
    assert bodies(fcm) == ["Recibiste 120 puntos. Tu saldo: 120."]
    assert fcm.delivered[0]["data"]["title"] == shop.name
    assert fcm.delivered[0]["data"]["link"].endswith("/t/cafe/app/")
    with platform.sessions() as session:
        session.get(Customer, ana.customer_id).language = "en"
        session.commit()
    earn(db, shop, ana, 5)
    assert bodies(fcm)[-1] == "You received 5 points. Your balance: 125."
    with db(shop) as session:
        assert len(session.scalars(select(Send).where(Send.campaign.is_(False))).all()) == 2


def test_a_person_who_wants_no_points_pushes_gets_none(
    db, platform, shop, make_member, add_devices, fcm
):
    ana = make_member(shop)
    add_devices(shop, ana, "ana-1")
    with platform.sessions() as session:
        session.get(Customer, ana.customer_id).mail_preferences = {"push:points": False}
        session.commit()
    earn(db, shop, ana, 50)
    assert fcm.delivered == []


def test_redemptions_confirmed_and_cancelled(db, shop, make_member, add_devices, fcm):
    ana = make_member(shop)
    add_devices(shop, ana, "ana-1")
    earn(db, shop, ana, 500)
    with db(shop) as session:
        update_program(session, {"customer_redemption_requests": True})
        reward = create_reward(session, name="Café", points=100)
        session.commit()
        first = request_reward(session, session.get(Membership, ana.id), reward)
        second = request_reward(session, session.get(Membership, ana.id), reward)
        session.commit()
        confirm(session, first, actor=Actor.system())
        session.commit()
        cancel(session, second, actor=Actor.system())
        session.commit()
    assert "Tu recompensa «Café» está confirmada." in bodies(fcm)
    assert "Tu solicitud de «Café» se canceló; sus puntos volvieron a tu saldo." in bodies(fcm)


def test_points_expiring_are_told_once_a_month(app, db, shop, make_member, add_devices, fcm):
    ana = make_member(shop)
    add_devices(shop, ana, "ana-1")
    context = {"points": 40, "expires_at": "2026-12-31T23:59:59-05:00", "period": "2026-12"}
    for _ in range(2):
        with db(shop) as session:
            notify(session, session.get(Membership, ana.id), "points_expiring", context)
            session.commit()
    assert bodies(fcm) == ["40 de tus puntos vencen el 31 de diciembre de 2026."]


def test_a_deleted_account_keeps_no_devices(db, shop, make_member, add_devices):
    ana = make_member(shop)
    add_devices(shop, ana, "ana-1", "ana-2")
    with db(shop) as session:
        member_erased(session, shop, session.get(Membership, ana.id), "ana@mail.example")
        session.commit()
        assert session.scalars(select(Device)).all() == []
