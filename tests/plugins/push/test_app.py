"""The customer app's side: the page script (hook app_scripts) and the service worker's
handler (hook service_worker_scripts) are on the merchant's app; the offer comes after
the first points, never before; the token reaches the server for the signed-in member
of that merchant, and only there."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from core.host.actors import Actor
from core.loyalty import ledger
from core.testing.weblogin import sign_in_customer
from plugins.push.models import Device
from tests.concurrency import finished_while_held


def status(client, slug="cafe"):
    answer = client.get(f"/t/{slug}/app/push/status")
    assert answer.status_code == 200
    return answer.get_json()


def register(client, info, token, slug="cafe"):
    return client.post(
        info["register"],
        data=json.dumps({"token": token}),
        content_type="application/json",
        headers={"X-CSRFToken": info["csrf"]},
    )


def test_app_scripts_and_service_worker_scripts_reach_the_app(app, client, shop, make_member):
    sign_in_customer(client, app, make_member(shop))
    page = client.get("/t/cafe/app/").get_data(as_text=True)
    assert '<script src="/t/cafe/app/push/push.js" defer>' in page
    worker = client.get("/t/cafe/app/sw.js").get_data(as_text=True)
    assert "importScripts(...CONFIG.imports)" in worker and "/t/cafe/app/push/worker.js" in worker
    assert "showNotification" in client.get("/t/cafe/app/push/worker.js").get_data(as_text=True)
    library = client.get("/t/cafe/app/push/lib/firebase-messaging-compat.js")
    assert library.status_code == 200 and b"messaging" in library.data
    assert client.get("/t/cafe/app/push/lib/..%2Fpackage.json").status_code == 404


def test_a_free_merchants_app_has_none_of_it(app, client, make_tenant, make_member):
    free = make_tenant(slug="bar", plan="free")
    sign_in_customer(client, app, make_member(free))
    assert "push.js" not in client.get("/t/bar/app/").get_data(as_text=True)
    assert "/app/push/" not in client.get("/t/bar/app/sw.js").get_data(as_text=True)
    assert client.get("/t/bar/app/push/status").status_code == 404


def test_the_offer_comes_after_the_first_points_and_the_token_is_kept(
    app, client, db, shop, make_member
):
    ana = make_member(shop)
    sign_in_customer(client, app, ana)
    info = status(client)
    assert info["enabled"] is True and info["offer"] is False  # a first visit: no offer
    assert info["config"]["projectId"] == "premia-test" and info["vapidKey"]
    with db(shop) as session:
        ledger.earn(session, ledger.lock_member(session, ana.id), points=10, actor=Actor.system())
        session.commit()
    info = status(client)
    assert info["offer"] is True
    assert register(client, info, "fcm-token-1").status_code == 201
    assert register(client, info, "fcm-token-1").status_code == 201  # again: one device
    assert status(client)["offer"] is False
    with db(shop) as session:
        assert [(d.member_id, d.token) for d in session.scalars(select(Device))] == [
            (ana.id, "fcm-token-1")
        ]


def test_a_bad_token_is_refused_in_the_persons_language(app, client, db, shop, make_member):
    sign_in_customer(client, app, make_member(shop))
    info = status(client)
    for bad in ("", "x" * 5000, None):
        answer = register(client, info, bad)
        assert answer.status_code == 422
        assert "token" in answer.get_json()["errors"]
    with db(shop) as session:
        assert session.scalars(select(Device)).all() == []


def test_a_token_is_kept_only_at_the_merchant_whose_app_sent_it(
    app, client, db, shop, make_tenant, make_member
):
    other = make_tenant(slug="sol", plan="white-label")
    ana = make_member(shop, email="ana@mail.example")
    sign_in_customer(client, app, ana)
    info = status(client, "sol")
    assert info == {"enabled": False}  # not a member there
    answer = client.post(
        "/t/sol/app/push/devices",
        data=json.dumps({"token": "t-1"}),
        content_type="application/json",
        headers={"X-CSRFToken": status(client)["csrf"]},
    )
    assert answer.status_code == 404
    for tenant in (shop, other):
        with db(tenant) as session:
            assert session.scalars(select(Device)).all() == []


def test_a_visitor_is_neither_offered_nor_registered(client, shop):
    assert status(client) == {"enabled": False}
    answer = client.post("/t/cafe/app/push/devices", json={"token": "x"})
    assert answer.status_code in (302, 400)


def test_the_profile_offers_phone_choices_only_where_pushes_are_sent(
    app, client, db, shop, make_tenant, make_member
):
    free = make_tenant(slug="bar", plan="free")
    ana = make_member(shop, email="ana@mail.example")
    sign_in_customer(client, app, ana)
    assert "Notificaciones en mi celular" in client.get("/t/cafe/app/profile").get_data(
        as_text=True
    )
    make_member(free, email="ana@mail.example")
    page = client.get("/t/bar/app/profile").get_data(as_text=True)
    assert "Notificaciones en mi celular" not in page and 'name="mail_points"' in page


@pytest.mark.postgres  # SQLite has no row locks
def test_a_phone_registers_while_the_ledger_holds_the_member(app, client, db, shop, make_member):
    """The ledger's lock on a member lasts its whole transaction (an expiry run, a
    campaign's grant, for thousands of members at once); the device's row refers to the
    member, a reference checked with a key-share lock: the ledger's lock must not
    conflict with it (FOR UPDATE did, and the phone waited for the ledger's commit)."""
    ana = make_member(shop)
    sign_in_customer(client, app, ana)
    with db(shop) as session:
        ledger.earn(session, ledger.lock_member(session, ana.id), points=10, actor=Actor.system())
        session.commit()
    info = status(client)

    def register_phone() -> None:
        assert register(client, info, "fcm-token-1").status_code == 201

    with db(shop) as ledgers:
        ledger.lock_member(ledgers, ana.id)  # held until this transaction ends
        assert finished_while_held(app, ledgers, register_phone), "the phone waited"
    with db(shop) as session:
        assert [d.member_id for d in session.scalars(select(Device))] == [ana.id]
