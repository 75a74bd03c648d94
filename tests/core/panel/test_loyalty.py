"""Fidelización from the cashier's side: a café giving 1 point per 1.000 COP, a
"Café gratis" at 30 points, Ana Núñez as the customer, Caja 1 as the employee."""

from __future__ import annotations

import html
import re
import types

import pytest
from sqlalchemy import func, select

from core.host.actors import Actor
from core.host.db import tenant_session
from core.host.plugins import PluginInfo, hookimpl
from core.loyalty import ledger
from core.loyalty.ledger import Entry
from core.loyalty.members import Membership
from core.loyalty.program import update_program
from core.loyalty.purchases import Purchase
from core.loyalty.rewards import Redemption, Reward, Status, create_reward, request_reward
from core.loyalty.staff import Role, StaffUser, create_staff
from core.testing.factories import PASSWORD
from core.testing.weblogin import csrf_token, flashes, post_login


def _failing_summary_plugin() -> types.ModuleType:
    module = types.ModuleType("summary_probe")
    module.PLUGIN = PluginInfo(name="summaryprobe", title="Probe", description="Tests.")

    @hookimpl
    def member_summary(member):
        if member.first_name == "Broken":
            raise RuntimeError("a plugin bug")
        return [types.SimpleNamespace(label="Sellos", value=f"{member.balance % 10}/10")]

    module.member_summary = member_summary
    return module


PROBE = _failing_summary_plugin()
pytestmark = pytest.mark.premia_plugins(PROBE)


@pytest.fixture
def shop(make_tenant, make_plan, db):
    make_plan("probe", {"summaryprobe"})
    tenant = make_tenant(slug="cafe", plan="probe")
    with db(tenant) as session:
        update_program(session, {"points_per_amount": {"amount": "1000", "points": 1}})
        create_staff(
            session,
            email="caja1@cafe.example",
            name="Caja 1",
            password=PASSWORD,
            role=Role.EMPLOYEE,
        )
        reward = create_reward(session, name="Café gratis", points=30, stock=5)
        session.commit()
        tenant.reward_id = reward.id
    return tenant


@pytest.fixture
def ana(shop, make_member):
    return make_member(
        shop,
        email="ana@mail.example",
        first_name="Ana",
        last_name="Núñez",
        document_id="1020304050",
    )


def login(client, tenant, role=Role.EMPLOYEE):
    with (
        client.application.app_context(),
        tenant_session(client.application.extensions["premia"].sessions, tenant.id) as session,
    ):
        email = session.scalar(select(StaffUser.email).where(StaffUser.role == role))
    assert post_login(client, tenant.slug, email, PASSWORD).status_code == 302


def page(client, url):
    answer = client.get(url)
    assert answer.status_code == 200, answer.status_code
    return answer.get_data(as_text=True)


def form_of(text, action):
    """The hidden fields of the form posting to `action`."""
    start = text.index(f'action="{action}"')
    form = text[start : text.index("</form>", start)]
    fields = dict(re.findall(r'name="(csrf_token|key|reward)"[^>]*value="([^"]*)"', form))
    fields.update(dict(re.findall(r'value="([^"]*)"[^>]*name="(?:csrf_token|key)"', form)))
    return fields


def give_form(client, tenant, code):
    text = page(client, f"/t/{tenant.slug}/panel/loyalty/{code}")
    return form_of(text, f"/t/{tenant.slug}/panel/loyalty/{code}/give")


def balance(db, tenant, member_id):
    with db(tenant) as session:
        return session.get(Membership, member_id).balance


def test_the_menu_has_fidelizacion_for_an_employee(client, shop):
    login(client, shop)
    text = page(client, "/t/cafe/panel/loyalty/")
    assert '<a href="/t/cafe/panel/loyalty/" aria-current="page">Fidelización</a>' in text


@pytest.mark.parametrize(
    "query", ["nunez", "NÚÑEZ", "ana núñez", "1020304050", "ana@mail.example", "mail.example ana"]
)
def test_find_a_customer_by_name_without_accents_document_or_email(
    client, shop, ana, make_member, query
):
    make_member(shop, email="beto@mail.example", first_name="Beto", last_name="Nuño")
    login(client, shop)
    text = page(client, f"/t/cafe/panel/loyalty/?q={query}")
    assert "Ana Núñez" in html.unescape(text)
    assert "Beto" not in text
    assert "1 cliente encontrado" in text
    assert f'href="/t/cafe/panel/loyalty/{ana.code}"' in text


def test_a_code_opens_the_customer_at_once_as_a_scan_does(client, shop, ana):
    login(client, shop)
    answer = client.get(f"/t/cafe/panel/loyalty/?q=%20{ana.code.lower()}%20")
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith(f"/t/cafe/panel/loyalty/{ana.code}")
    text = page(client, f"/t/cafe/panel/loyalty/{ana.code}")
    assert "Ana Núñez" in html.unescape(text) and ">0</span>" in text
    assert "1 punto por $1.000" in html.unescape(text)


def test_nobody_found_says_so(client, shop, ana):
    login(client, shop)
    text = html.unescape(page(client, "/t/cafe/panel/loyalty/?q=zzz"))
    assert "Ningún cliente coincide con “zzz”." in text


def test_give_points_by_purchase_amount_once_however_often_it_is_sent(client, shop, ana, db):
    login(client, shop)
    fields = give_form(client, shop, ana.code)
    data = {**fields, "amount": "45.999", "description": "F-0012"}
    first = client.post(f"/t/cafe/panel/loyalty/{ana.code}/give", data=data)
    assert first.status_code == 302
    again = client.post(f"/t/cafe/panel/loyalty/{ana.code}/give", data=data)  # a double tap
    assert again.status_code == 302
    text = page(client, f"/t/cafe/panel/loyalty/{ana.code}")
    assert ("success", "45 puntos dados a Ana Núñez por una compra de $45.999. Saldo: 45") in (
        flashes(text)
    )
    assert balance(db, shop, ana.id) == 45
    with db(shop) as session:
        purchase = session.scalars(select(Purchase)).one()
        assert (purchase.amount, purchase.description) == (45999, "F-0012")
        employee = session.scalar(select(StaffUser).where(StaffUser.role == "employee"))
        entry = session.scalars(select(Entry).where(Entry.kind == "earn")).one()
        assert (entry.actor_kind, entry.actor_id, entry.description) == (
            "staff",
            employee.id,
            "F-0012",
        )
    assert "F-0012" in text  # the history shows the merchant's note


def test_an_amount_written_the_colombian_way_or_bare(client, shop, ana, db):
    login(client, shop)
    for amount in ("1.000", "2000", "$ 3.000"):
        fields = give_form(client, shop, ana.code)
        answer = client.post(
            f"/t/cafe/panel/loyalty/{ana.code}/give", data={**fields, "amount": amount}
        )
        assert answer.status_code == 302, amount
    assert balance(db, shop, ana.id) == 6


def test_a_purchase_below_the_equivalence_is_recorded_and_says_why_it_earns_nothing(
    client, shop, ana, db
):
    login(client, shop)
    # Still a purchase (tiers count the spend, punch cards a stamp), but no success in
    # green: the cashier reads why no points were given.
    fields = give_form(client, shop, ana.code)
    answer = client.post(f"/t/cafe/panel/loyalty/{ana.code}/give", data={**fields, "amount": "999"})
    assert answer.status_code == 302
    assert flashes(page(client, f"/t/cafe/panel/loyalty/{ana.code}")) == [
        (
            "warning",
            "La compra de $999 quedó registrada sin puntos: las compras dan puntos "
            "desde $1.000 (1 punto por $1.000).",
        )
    ]
    assert balance(db, shop, ana.id) == 0
    with db(shop) as session:
        assert session.scalars(select(Purchase.amount)).all() == [999]
        update_program(session, {"points_per_amount": {"amount": "1000", "points": 3}})
        session.commit()
    fields = give_form(client, shop, ana.code)
    client.post(f"/t/cafe/panel/loyalty/{ana.code}/give", data={**fields, "amount": "333"})
    assert flashes(page(client, f"/t/cafe/panel/loyalty/{ana.code}")) == [
        (
            "warning",
            "La compra de $333 quedó registrada sin puntos: las compras dan puntos "
            "desde $334 (3 puntos por $1.000).",
        )
    ]  # no cents in COP


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("", "Escribe el monto de la compra."),
        ("cuarenta", "Escribe el monto como un número, p. ej. $45.000."),
        ("1.5", "Escribe el monto como un número, p. ej. $45.000."),
        ("0", "El monto debe ser mayor que cero."),
        ("-5000", "El monto debe ser mayor que cero."),
        ("$ -5.000", "El monto debe ser mayor que cero."),
        ("\u22125000", "El monto debe ser mayor que cero."),
        ("-cinco", "Escribe el monto como un número, p. ej. $45.000."),
    ],
)
def test_a_wrong_amount_is_a_form_error_in_spanish_and_gives_nothing(
    client, shop, ana, db, amount, message
):
    login(client, shop)
    fields = give_form(client, shop, ana.code)
    answer = client.post(
        f"/t/cafe/panel/loyalty/{ana.code}/give", data={**fields, "amount": amount}
    )
    assert answer.status_code == 422
    text = html.unescape(answer.get_data(as_text=True))
    assert f'<p class="error" role="alert">{message}</p>' in text
    assert balance(db, shop, ana.id) == 0
    assert form_of(text, f"/t/cafe/panel/loyalty/{ana.code}/give")["key"] != fields["key"]


def test_an_employee_follows_the_equivalence_a_manager_may_give_points(client, shop, ana, db):
    login(client, shop)
    fields = give_form(client, shop, ana.code)
    answer = client.post(
        f"/t/cafe/panel/loyalty/{ana.code}/give", data={**fields, "mode": "points", "points": "500"}
    )
    assert answer.status_code == 422  # no amount: the employee's points are not taken
    assert balance(db, shop, ana.id) == 0
    client.post(f"/t/{shop.slug}/logout", data={"csrf_token": fields["csrf_token"]})
    login(client, shop, Role.OWNER)
    text = page(client, f"/t/cafe/panel/loyalty/{ana.code}")
    assert 'value="points"' in text
    fields = form_of(text, f"/t/cafe/panel/loyalty/{ana.code}/give")
    answer = client.post(
        f"/t/cafe/panel/loyalty/{ana.code}/give", data={**fields, "mode": "points", "points": "500"}
    )
    assert answer.status_code == 302
    assert balance(db, shop, ana.id) == 500


def test_without_equivalence_points_are_given_and_the_note_follows_the_setting(
    client, shop, ana, db
):
    with db(shop) as session:
        update_program(session, {"points_per_amount": None, "description_field": False})
        session.commit()
    login(client, shop)
    text = page(client, f"/t/cafe/panel/loyalty/{ana.code}")
    assert 'name="amount"' not in text and 'name="description"' not in text
    fields = form_of(text, f"/t/cafe/panel/loyalty/{ana.code}/give")
    answer = client.post(
        f"/t/cafe/panel/loyalty/{ana.code}/give",
        data={**fields, "points": "1", "description": "sneaked in"},
    )
    assert answer.status_code == 302
    assert ("success", "1 punto dado a Ana Núñez. Saldo: 1") in flashes(
        page(client, f"/t/cafe/panel/loyalty/{ana.code}")
    )
    with db(shop) as session:
        assert session.scalars(select(Entry)).one().description is None
    fields = give_form(client, shop, ana.code)
    answer = client.post(f"/t/cafe/panel/loyalty/{ana.code}/give", data={**fields, "points": "0"})
    assert answer.status_code == 422
    assert "Los puntos deben ser un número entero mayor que cero." in html.unescape(
        answer.get_data(as_text=True)
    )


def test_redeem_a_reward_once_and_refuse_it_without_enough_points(client, shop, ana, db):
    with db(shop) as session:
        ledger.earn(session, session.get(Membership, ana.id), points=40, actor=Actor.system())
        session.commit()
    login(client, shop)
    text = page(client, f"/t/cafe/panel/loyalty/{ana.code}")
    fields = form_of(text, f"/t/cafe/panel/loyalty/{ana.code}/redeem")
    assert fields["reward"] == str(shop.reward_id)
    for _tap in range(2):
        answer = client.post(f"/t/cafe/panel/loyalty/{ana.code}/redeem", data=fields)
        assert answer.status_code == 302
    text = page(client, f"/t/cafe/panel/loyalty/{ana.code}")
    assert ("success", "Ana Núñez canjeó Café gratis por 30 puntos. Saldo: 10") in flashes(text)
    assert balance(db, shop, ana.id) == 10
    # The button is disabled now; a forged post gets a clear refusal.
    fields = form_of(text, f"/t/cafe/panel/loyalty/{ana.code}/redeem")
    answer = client.post(f"/t/cafe/panel/loyalty/{ana.code}/redeem", data=fields)
    assert answer.status_code == 409
    assert "El cliente no tiene suficientes puntos." in html.unescape(answer.get_data(as_text=True))
    with db(shop) as session:
        assert session.scalar(select(func.count(Redemption.id))) == 1
        assert session.scalars(select(Redemption)).one().reward.stock == 4


def test_confirm_and_cancel_pending_requests(client, shop, ana, db):
    with db(shop) as session:
        update_program(session, {"customer_redemption_requests": True})
        member = session.get(Membership, ana.id)
        ledger.earn(session, member, points=70, actor=Actor.system())
        reward = session.get(Reward, shop.reward_id)
        first = request_reward(session, member, reward, idempotency_key="app-1").id
        second = request_reward(session, member, reward, idempotency_key="app-2").id
        session.commit()
    login(client, shop)
    text = page(client, f"/t/cafe/panel/loyalty/{ana.code}")
    assert "Canjes solicitados" in text
    history = text[text.index('<table class="loyalty-history">') :]
    assert history.count("Canje solicitado (pendiente)") == 2  # held, not done
    token = csrf_token(text)
    base = f"/t/cafe/panel/loyalty/{ana.code}/requests"
    for _tap in range(2):  # a double tap confirms once
        assert client.post(f"{base}/{first}/confirm", data={"csrf_token": token}).status_code == 302
    answer = client.post(f"{base}/{second}/cancel", data={"csrf_token": token})
    assert answer.status_code == 302
    text = page(client, f"/t/cafe/panel/loyalty/{ana.code}")
    assert ("success", "Solicitud de Café gratis cancelada: 30 puntos devueltos. Saldo: 40") in (
        flashes(text)
    )
    # The cashier's history says which request was handed over and which was cancelled
    # (its points came back): a cancelled one is no done "Canje".
    history = text[text.index('<table class="loyalty-history">') :]
    movements = [
        " ".join(re.sub(r"<[^>]+>", " ", cell).split())
        for cell in re.findall(r"<tr>\s*<td>[^<]*</td>\s*<td>(.*?)</td>", history, re.S)
    ]
    assert movements[:3] == [
        "Devolución",
        "Canje solicitado (cancelado) Café gratis",
        "Canje Café gratis",
    ]
    with db(shop) as session:
        statuses = dict(session.execute(select(Redemption.id, Redemption.status)).all())
        assert statuses == {first: Status.CONFIRMED, second: Status.CANCELLED}
        assert session.get(Membership, ana.id).balance == 40
    # A cancelled request cannot be confirmed afterwards.
    client.post(f"{base}/{second}/confirm", data={"csrf_token": token})
    assert ("error", "Solo se puede confirmar una solicitud pendiente.") in flashes(
        page(client, f"/t/cafe/panel/loyalty/{ana.code}")
    )


def test_another_tenants_customer_and_request_are_not_found(
    client, shop, ana, db, make_tenant, make_member
):
    other = make_tenant(slug="otra")
    stranger = make_member(other, email="x@mail.example")
    with db(other) as session:
        update_program(session, {"customer_redemption_requests": True})
        member = session.get(Membership, stranger.id)
        ledger.earn(session, member, points=50, actor=Actor.system())
        reward = create_reward(session, name="Ajeno", points=10)
        theirs = request_reward(session, member, reward, idempotency_key="k").id
        session.commit()
    login(client, shop)
    token = csrf_token(page(client, f"/t/cafe/panel/loyalty/{ana.code}"))
    assert client.get(f"/t/cafe/panel/loyalty/{stranger.code}").status_code == 404
    assert client.get(f"/t/cafe/panel/loyalty/?q={stranger.code}").status_code == 200
    for action in ("give", "redeem"):
        assert (
            client.post(
                f"/t/cafe/panel/loyalty/{stranger.code}/{action}", data={"csrf_token": token}
            ).status_code
            == 404
        )
    for action in ("confirm", "cancel"):
        url = f"/t/cafe/panel/loyalty/{ana.code}/requests/{theirs}/{action}"
        assert client.post(url, data={"csrf_token": token}).status_code == 404
    assert (
        client.post(
            f"/t/cafe/panel/loyalty/{ana.code}/requests/99999999999/confirm",
            data={"csrf_token": token},
        ).status_code
        == 404
    )
    fields = form_of(
        page(client, f"/t/cafe/panel/loyalty/{ana.code}"),
        f"/t/cafe/panel/loyalty/{ana.code}/redeem",
    )
    answer = client.post(
        f"/t/cafe/panel/loyalty/{ana.code}/redeem", data={**fields, "reward": str(reward.id)}
    )
    assert answer.status_code == 404
    with db(other) as session:
        assert session.get(Redemption, theirs).status == Status.REQUESTED


def test_posts_need_the_csrf_token_and_a_login(client, shop, ana, db):
    assert client.get(f"/t/cafe/panel/loyalty/{ana.code}").status_code == 302  # to login
    login(client, shop)
    answer = client.post(
        f"/t/cafe/panel/loyalty/{ana.code}/give", data={"key": "panel-x", "amount": "45000"}
    )
    assert answer.status_code == 400
    assert balance(db, shop, ana.id) == 0


def test_member_summary_lines_from_active_plugins_a_failing_one_left_out(
    client, shop, ana, make_member
):
    broken = make_member(shop, first_name="Broken")
    login(client, shop)
    text = page(client, f"/t/cafe/panel/loyalty/{ana.code}")
    assert "<dt>Sellos</dt><dd>0/10</dd>" in text
    text = page(client, f"/t/cafe/panel/loyalty/{broken.code}")
    assert "Sellos" not in text and "Broken" in text


def test_the_qr_decoder_is_served_from_node_modules(client, shop):
    login(client, shop)
    answer = client.get("/t/cafe/panel/loyalty/decoder.js")
    assert answer.status_code == 200
    assert answer.mimetype == "text/javascript"
    assert b"jsQR" in answer.get_data()
    page_text = page(client, "/t/cafe/panel/loyalty/")
    assert 'data-decoder="/t/cafe/panel/loyalty/decoder.js"' in page_text
    assert "scanner.js" in page_text and "cdn" not in page_text.lower()


# --- large grants ------------------------------------------------------------


def readable(text):
    """The page's text as read: tags out, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def large_grant_form(text):
    """The confirmation's fields (hidden, re-posted as they are)."""
    section = text[text.index('<section class="card large-grant"') :]
    form = section[: section.index("</form>")]
    return dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form))


def test_a_large_grant_is_written_only_once_confirmed_and_activity_marks_it(client, shop, ana, db):
    login(client, shop, Role.OWNER)
    url = f"/t/cafe/panel/loyalty/{ana.code}/give"
    fields = give_form(client, shop, ana.code)
    answer = client.post(url, data={**fields, "mode": "points", "points": "1000000"})
    assert answer.status_code == 200
    text = answer.get_data(as_text=True)
    assert "Confirma una entrega grande" in readable(text)
    assert "1.000.000 puntos para Ana Núñez." in readable(text)
    assert "Las entregas de más de 10.000 puntos necesitan una confirmación" in readable(text)
    assert balance(db, shop, ana.id) == 0  # nothing written before the confirmation
    confirm = large_grant_form(text)
    assert (confirm["key"], confirm["points"], confirm["confirm_points"]) == (
        fields["key"],
        "1000000",
        "1000000",
    )
    for _tap in range(2):  # confirming twice gives once
        answer = client.post(url, data=confirm)
        assert answer.status_code == 302
    assert balance(db, shop, ana.id) == 1_000_000
    # An ordinary grant still takes one click, unmarked.
    fields = give_form(client, shop, ana.code)
    assert client.post(url, data={**fields, "mode": "points", "points": "10000"}).status_code == 302
    with db(shop) as session:
        marks = dict(session.execute(select(Entry.points, Entry.confirmed_large)).all())
    assert marks == {1_000_000: True, 10_000: False}
    rows = re.findall(
        r'<tr data-entry="\d+"[^>]*>(.*?)</tr>', page(client, "/t/cafe/panel/activity/"), re.S
    )
    marked = [
        re.findall(r'<td class="num">([^<]*)</td>', row)
        for row in rows
        if "Entrega grande, confirmada" in row
    ]
    assert len(rows) == 2 and marked == [["1.000.000"]]


def test_a_large_purchase_is_confirmed_with_its_amount(client, shop, ana, db):
    login(client, shop)  # the employee gives by amount
    url = f"/t/cafe/panel/loyalty/{ana.code}/give"
    fields = give_form(client, shop, ana.code)
    answer = client.post(url, data={**fields, "amount": "20.000.000"})
    text = answer.get_data(as_text=True)
    assert "20.000 puntos para Ana Núñez. Por una compra de $20.000.000." in readable(text)
    with db(shop) as session:
        assert session.scalar(select(func.count(Purchase.id))) == 0
    assert client.post(url, data=large_grant_form(text)).status_code == 302
    assert (
        "success",
        "20.000 puntos dados a Ana Núñez por una compra de $20.000.000. Saldo: 20.000",
    ) in flashes(page(client, f"/t/cafe/panel/loyalty/{ana.code}"))
    with db(shop) as session:
        assert session.scalars(select(Purchase.amount)).all() == [20_000_000]
        assert session.scalars(select(Entry.confirmed_large)).all() == [True]


def test_a_confirmation_of_other_points_asks_again(client, shop, ana, db):
    login(client, shop, Role.OWNER)
    url = f"/t/cafe/panel/loyalty/{ana.code}/give"
    fields = give_form(client, shop, ana.code)
    answer = client.post(
        url, data={**fields, "mode": "points", "points": "1000000", "confirm_points": "50000"}
    )
    assert answer.status_code == 200
    assert large_grant_form(answer.get_data(as_text=True))["confirm_points"] == "1000000"
    assert balance(db, shop, ana.id) == 0


def test_without_a_threshold_no_grant_asks(client, shop, ana, db):
    with db(shop) as session:
        update_program(session, {"large_grant_points": None})
        session.commit()
    login(client, shop, Role.OWNER)
    fields = give_form(client, shop, ana.code)
    answer = client.post(
        f"/t/cafe/panel/loyalty/{ana.code}/give",
        data={**fields, "mode": "points", "points": "1000000"},
    )
    assert answer.status_code == 302
    assert balance(db, shop, ana.id) == 1_000_000
