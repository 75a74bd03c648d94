"""Referidos in the panel: who brought whom and why not, per inviter the points their
friends earned since; managers only, one merchant's referrals only; the settings in
Configuración, refused with a message per field."""

from __future__ import annotations

import html
import re
from decimal import Decimal

from core.host.actors import Actor
from core.loyalty.members import Membership
from core.loyalty.purchases import give_points
from core.loyalty.staff import Role
from core.testing.weblogin import flashes, login, token
from plugins.referrals import referrals
from tests.core.panel.test_settings import _form as settings_form
from tests.plugins.referrals.test_referrals import code_of, configure, join_from_link, person


def row_texts(page: str, table: str) -> list[str]:
    table = re.search(rf'<table class="rows" id="{table}">(.*?)</table>', page, re.S)[1]
    body = re.search(r"<tbody>(.*?)</tbody>", table, re.S)[1]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", html.unescape(r)).split()) for r in rows]


def test_the_manager_sees_who_brought_whom_and_their_friends_points(
    client, app, db, shop, ana, make_member
):
    configure(db, shop, referrer_points=100, monthly_cap=1)
    code = code_of(db, shop, ana.id)
    bea = join_from_link(app, db, shop, person(app, "bea@example.com", "Bea"), referrals.via(code))
    cid = join_from_link(app, db, shop, person(app, "cid@example.com", "Cid"), referrals.via(code))
    twin = join_from_link(
        app, db, shop, person(app, "ana.maria+2@gmail.com", "Twin"), referrals.via(code)
    )
    with db(shop) as session:
        give_points(session, session.get(Membership, bea.id), 30, actor=Actor.system())
        session.commit()
    with db(shop) as session:
        give_points(session, session.get(Membership, cid.id), 12, actor=Actor.system())
        session.commit()
    login(client, db, shop)
    page = client.get("/t/cafe/panel/referrals/").get_data(as_text=True)
    rows = row_texts(page, "referrals")
    assert rows[0].startswith("Ana Test Twin") and rows[0].endswith(
        "No pagado: El correo del amigo es el de quien invita"
    )
    assert rows[1].startswith("Ana Test Cid") and rows[1].endswith(
        "No pagado: Quien invita ya había llegado al tope del mes"
    )
    assert rows[2].startswith("Ana Test Bea") and "Pagado: 100 puntos" in rows[2]
    # Bea and Cid (the refused self-referral aside) earned 30 + 12 since joining.
    assert row_texts(page, "inviters") == ["Ana Test 2 42"]
    assert f"/t/cafe/panel/customers/{bea.code}" in page
    # The member's page lists the referral entry with its label.
    member_page = client.get(f"/t/cafe/panel/customers/{ana.code}").get_data(as_text=True)
    assert "Puntos por referido" in html.unescape(member_page)
    # Actividad lists it too (one paid referral: one such row), and filters by its kind.
    activity = html.unescape(client.get("/t/cafe/panel/activity/").get_data(as_text=True))
    assert activity.count("<td>Puntos por referido</td>") == 1
    only = html.unescape(client.get("/t/cafe/panel/activity/?kind=referral").get_data(as_text=True))
    assert only.count("<tr data-entry=") == 1 and "<td>Puntos por referido</td>" in only
    assert twin.id != ana.id


def test_employees_are_refused_and_another_merchant_sees_none(
    client, app, db, shop, ana, make_tenant
):
    code = code_of(db, shop, ana.id)
    join_from_link(app, db, shop, person(app, "bea@example.com", "Bea"), referrals.via(code))
    login(client, db, shop, Role.EMPLOYEE)
    assert client.get("/t/cafe/panel/referrals/").status_code == 403
    bar = make_tenant(slug="bar")
    other = app.test_client()
    login(other, db, bar)
    page = other.get("/t/bar/panel/referrals/").get_data(as_text=True)
    assert "Bea" not in page and "Ana" not in page and "Todavía no hay referidos." in page


def test_the_settings_are_drawn_in_configuracion_and_checked(client, db, shop, platform):
    login(client, db, shop)
    url = "/t/cafe/panel/settings/"
    page = html.unescape(client.get(url).get_data(as_text=True))
    assert "Puntos para el cliente que refiere" in page
    assert "La primera vez que el amigo acumula puntos (sin contar los de bienvenida)" in page
    with db(shop) as session:
        before = platform.plugins.settings(session, "referrals")
    assert before["referrer_points"] == 100 and before["pays_on"] == "first_earn"


def test_the_settings_are_saved_from_configuracion_and_refused_per_field(
    client, db, shop, platform
):
    login(client, db, shop)
    url = "/t/cafe/panel/settings/"
    chosen = {
        "plugin-referrals-referrer_points": "150",
        "plugin-referrals-friend_points": "25",
        "plugin-referrals-pays_on": "first_purchase",
        "plugin-referrals-min_purchase": "20.000",
        "plugin-referrals-monthly_cap": "3",
        "plugin-referrals-return_days": "15",
    }
    answer = client.post(
        url,
        follow_redirects=True,
        data={"csrf_token": token(client, url), **settings_form(**chosen)},
    )
    assert ("success", "Configuración guardada.") in flashes(answer.get_data(as_text=True))
    expected = {
        "referrer_points": 150,
        "friend_points": 25,
        "pays_on": "first_purchase",
        "min_purchase": Decimal("20000"),
        "monthly_cap": 3,
        "return_days": 15,
    }
    with db(shop) as session:
        assert platform.plugins.settings(session, "referrals") == expected
    bad = {
        "plugin-referrals-referrer_points": "0",
        "plugin-referrals-pays_on": "whenever",
        "plugin-referrals-monthly_cap": "1001",
        "plugin-referrals-return_days": "-1",
    }
    refused = client.post(
        url, data={"csrf_token": token(client, url), **settings_form(**{**chosen, **bad})}
    )
    page = html.unescape(refused.get_data(as_text=True))
    for message in (
        "Escribe un valor de 1 a 1.000.000.000.",
        "Escribe un valor de 1 a 1.000.",
        "Escribe un valor de 0 a 365.",
    ):
        assert message in page, message
    with db(shop) as session:
        assert platform.plugins.settings(session, "referrals") == expected  # nothing saved


def test_actividad_links_the_referrals_for_managers(client, db, shop):
    login(client, db, shop)
    page = client.get("/t/cafe/panel/activity/").get_data(as_text=True)
    assert 'href="/t/cafe/panel/referrals/"' in page
