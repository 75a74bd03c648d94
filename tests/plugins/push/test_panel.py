"""Notificaciones in the panel: the exact reach before sending, send now, schedule in
the merchant's time, edit, cancel, the report and the history; what is missing when
Firebase is not configured; managers only; another merchant's sends answer 404."""

from __future__ import annotations

import html
from datetime import UTC, datetime

from sqlalchemy import select

from core.host.db import clock_at
from core.loyalty.staff import Role
from core.testing.weblogin import csrf_token, login
from plugins.push.models import Send, SendStatus


def text(answer) -> str:
    return html.unescape(answer.get_data(as_text=True))


def compose(client, slug="cafe", **fields):
    page = client.get(f"/t/{slug}/panel/push/")
    data = {
        "csrf_token": csrf_token(page.get_data(as_text=True)),
        "title": "Viernes de café",
        "body": "2x1 desde las 18:00",
        "link": f"http://localhost/t/{slug}/app/",
        "segment": "",
        "city": "",
        "action": "send",
        **fields,
    }
    return client.post(f"/t/{slug}/panel/push/", data=data)


def test_count_then_send_now_and_see_the_report(client, db, shop, make_member, add_devices, fcm):
    add_devices(shop, make_member(shop), "p-1", "dead-1")
    add_devices(shop, make_member(shop, birthday=datetime(1990, 12, 1).date()), "p-2")
    login(client, db, shop)
    with clock_at(datetime(2026, 12, 5, 15, tzinfo=UTC)):
        counted = compose(client, action="count", birthday_month="y")
        assert counted.status_code == 200
        assert "Llega a 1 dispositivo." in text(counted)
        assert fcm.tokens() == []  # counting sends nothing
        sent = compose(client)
    assert sent.status_code == 302
    assert sorted(fcm.tokens()) == ["p-1", "p-2"]
    report = text(client.get(sent.headers["Location"]))
    assert '<dd id="targeted">3</dd>' in report and '<dd id="sent">2</dd>' in report
    assert '<dd id="pruned">1</dd>' in report and '<dd id="failed">0</dd>' in report
    history = text(client.get("/t/cafe/panel/push/"))
    assert "Viernes de café" in history and "Enviada" in history


def test_schedule_for_friday_18_bogota_then_edit_and_cancel(
    client, db, shop, make_member, add_devices, fcm
):
    add_devices(shop, make_member(shop), "p-1")
    login(client, db, shop)
    with clock_at(datetime(2026, 12, 5, 15, tzinfo=UTC)):
        scheduled = compose(client, local_date="2026-12-11", local_time="18:00")
        assert scheduled.status_code == 302
        with db(shop) as session:
            send = session.scalar(select(Send))
            assert send.send_at == datetime(2026, 12, 11, 23, tzinfo=UTC)
            assert send.status == SendStatus.SCHEDULED
        url = scheduled.headers["Location"]
        page = text(client.get(url))
        assert 'value="2026-12-11"' in page and 'value="18:00"' in page
        edited = client.post(
            url,
            data={
                "csrf_token": csrf_token(page),
                "title": "Sábado",
                "body": "Otro día",
                "link": "http://localhost/t/cafe/app/",
                "local_date": "2026-12-12",
                "local_time": "09:30",
                "min_balance": "0",
                "segment": "",
                "city": "",
            },
        )
        assert edited.status_code == 302
        with db(shop) as session:
            send = session.scalar(select(Send))
            assert (send.title, send.send_at) == (
                "Sábado",
                datetime(2026, 12, 12, 14, 30, tzinfo=UTC),
            )
            assert send.audience == {"min_balance": 0}
        cancelled = client.post(url + "/cancel", data={"csrf_token": csrf_token(page)})
        assert cancelled.status_code == 302
    with clock_at(datetime(2026, 12, 13, tzinfo=UTC)):
        from plugins.push import jobs

        jobs.tick()
    assert fcm.tokens() == []
    assert "Cancelada" in text(client.get("/t/cafe/panel/push/"))


def test_bad_input_shows_each_fields_error_and_saves_nothing(client, db, shop):
    login(client, db, shop)
    with clock_at(datetime(2026, 12, 5, 15, tzinfo=UTC)):
        answer = compose(
            client, title="", local_date="2026-12-01", local_time="10:00", idle_days="abc"
        )
    assert answer.status_code == 422
    page = text(answer)
    assert "un número entero" in page or "número" in page
    answer = compose(client, title="", local_date="2026-12-01", local_time="10:00")
    page = text(answer)
    assert answer.status_code == 422 and "Escribe un título." in page
    with db(shop) as session:
        assert session.scalars(select(Send)).all() == []


def test_without_firebase_the_screen_says_what_is_missing(make_app, client, db, make_tenant):
    bare = make_app()
    bare.test_client_class = type(client)
    web = bare.test_client()
    with bare.app_context():
        from core.host.platform import current_platform  # noqa: F401

        shop = make_tenant_in(bare, make_tenant)
        login(web, db_of(bare), shop)
        page = web.get(f"/t/{shop.slug}/panel/push/")
        assert page.status_code == 200
        body = text(page)
        assert "PREMIA_FIREBASE_CREDENTIALS" in body and "PREMIA_FIREBASE_VAPID_KEY" in body
        refused = compose(web, slug=shop.slug)
        assert refused.status_code == 422
        with db_of(bare)(shop) as session:
            assert session.scalars(select(Send)).all() == []


def make_tenant_in(app, make_tenant):
    return make_tenant(slug="nofb", plan="white-label")


def db_of(app):
    from contextlib import contextmanager

    from core.host.db import tenant_session

    @contextmanager
    def open_session(tenant):
        with tenant_session(app.extensions["premia"].sessions, tenant.id) as session:
            yield session

    return open_session


def test_employees_may_not_and_another_merchants_sends_are_404(client, db, shop, make_tenant, fcm):
    other = make_tenant(slug="sol", plan="white-label")
    login(client, db, other)
    with clock_at(datetime(2026, 12, 5, 15, tzinfo=UTC)):
        theirs = compose(client, slug="sol", local_date="2026-12-11", local_time="18:00")
    their_id = int(theirs.headers["Location"].rsplit("/", 1)[1])
    client.get("/t/sol/logout")
    login(client, db, shop)
    page = client.get("/t/cafe/panel/push/").get_data(as_text=True)
    token = csrf_token(page)
    assert client.get(f"/t/cafe/panel/push/{their_id}").status_code == 404
    assert (
        client.post(f"/t/cafe/panel/push/{their_id}", data={"csrf_token": token}).status_code == 404
    )
    assert (
        client.post(f"/t/cafe/panel/push/{their_id}/cancel", data={"csrf_token": token}).status_code
        == 404
    )
    with db(other) as session:
        assert session.get(Send, their_id).status == SendStatus.SCHEDULED
    employee = client.application.test_client()
    login(employee, db, shop, Role.EMPLOYEE)
    assert employee.get("/t/cafe/panel/push/").status_code == 403
