"""Rewards in the customer app: the catalogue with the points each still needs, a
request that holds the points and e-mails the merchant, the person's own requests,
withdrawing one (the points go back into the same lots), refusals that hold nothing,
other people's requests (404, nothing changes) and a double submit (held once)."""

from __future__ import annotations

import html
import io
import re
import secrets
import threading
from email.header import decode_header, make_header

import pytest
from sqlalchemy import func, select

from core.host.actors import Actor
from core.loyalty import ledger, rewards
from core.loyalty.program import update_program
from core.loyalty.rewards import Redemption, Reward, Status
from core.testing.factories import FreshContextClient
from core.testing.weblogin import csrf_token, flashes, sign_in_customer
from core.web.uploads import save_image
from tests.core.panel.managing import png

STAFF = Actor.staff(1)
CATALOGUE = "/t/cafe/app/rewards/"
REQUESTS = "/t/cafe/app/rewards/requests"


@pytest.fixture(autouse=True)
def upload_folder(app, tmp_path):
    app.config["PREMIA_UPLOAD_FOLDER"] = str(tmp_path)
    return tmp_path


@pytest.fixture
def shop(make_tenant, db):
    tenant = make_tenant(slug="cafe", name="Café Central", email="cafe@x.example")
    with db(tenant) as session:
        update_program(session, {"customer_redemption_requests": True})
        session.commit()
    return tenant


@pytest.fixture
def ana(shop, make_member, client, app):
    member = make_member(shop, "ana@mail.example")
    sign_in_customer(client, app, member)
    return member


def give(db, tenant, member, points):
    with db(tenant) as session:
        entry = ledger.earn(session, member, points=points, actor=STAFF)
        session.commit()
        return entry


def make_reward(db, tenant, **fields):
    fields.setdefault("name", "Café gratis")
    fields.setdefault("points", 100)
    with db(tenant) as session:
        reward = rewards.create_reward(session, **fields)
        session.commit()
        return reward


def state(db, tenant, member_id):
    """What a request could change: balance and its audit, entries, lots, requests, stock."""
    with db(tenant) as session:
        return {
            "audit": ledger.audit_member(session, member_id),
            "entries": session.scalar(select(func.count(ledger.Entry.id))),
            "lots": sorted(session.scalars(select(ledger.Lot.remaining)).all()),
            "redemptions": sorted(
                (r.id, r.status) for r in session.scalars(select(Redemption)).all()
            ),
            "stock": sorted((r.id, r.stock) for r in session.scalars(select(Reward)).all()),
        }


def section(page: str, kind: str, item_id: int) -> str:
    """The <li> of one reward or request on a page."""
    match = re.search(rf'<li class="{kind}[^"]*" id="{kind}-{item_id}">(.*?)</li>', page, re.S)
    assert match, f"no {kind} {item_id} on the page"
    return html.unescape(match.group(1))


def post_request(client, reward_id, key=None, slug="cafe"):
    page = client.get(f"/t/{slug}/app/rewards/").get_data(as_text=True)
    return client.post(
        f"/t/{slug}/app/rewards/{reward_id}/request",
        data={"csrf_token": csrf_token(page), "key": key or secrets.token_urlsafe(16)},
    )


def post_withdraw(client, redemption_id, slug="cafe"):
    page = client.get(f"/t/{slug}/app/rewards/requests").get_data(as_text=True)
    return client.post(
        f"/t/{slug}/app/rewards/requests/{redemption_id}/withdraw",
        data={"csrf_token": csrf_token(page)},
    )


def lots_of(db, tenant, member_id):
    with db(tenant) as session:
        lots = session.scalars(select(ledger.Lot).where(ledger.Lot.member_id == member_id))
        return {lot.entry_id: lot.remaining for lot in lots}


# --- the catalogue ----------------------------------------------------------------


def test_the_catalogue_shows_rewards_with_image_points_stock_and_points_missing(
    client, shop, ana, db
):
    give(db, shop, ana, 120)
    image = save_image(shop.id, io.BytesIO(png()))
    coffee = make_reward(db, shop, name="Café", points=50)
    cake = make_reward(db, shop, name="Torta", points=200, stock=3, image=image)
    mug = make_reward(db, shop, name="Taza", points=80, stock=0)
    make_reward(db, shop, name="Retirada", points=10, active=False)
    answer = client.get(CATALOGUE)
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert "Tienes 120 puntos." in html.unescape(page)
    assert "Retirada" not in page
    # cheapest first
    assert page.index("Café</h2>") < page.index("Taza</h2>") < page.index("Torta</h2>")
    coffee_line = section(page, "reward", coffee.id)
    assert "50 puntos" in coffee_line and "Tienes puntos suficientes." in coffee_line
    assert "Quedan" not in coffee_line  # unlimited: no stock shown
    assert f'action="/t/cafe/app/rewards/{coffee.id}/request"' in coffee_line
    cake_line = section(page, "reward", cake.id)
    assert "200 puntos" in cake_line and "Quedan 3" in cake_line
    assert "Te faltan 80 puntos." in cake_line and "<form" not in cake_line
    assert f'src="/t/cafe/uploads/{image}"' in cake_line
    served = client.get(f"/t/cafe/uploads/{image}")
    assert served.status_code == 200 and served.data == png()
    mug_line = section(page, "reward", mug.id)
    assert "Agotado" in mug_line and "<form" not in mug_line


def test_the_menu_leads_to_rewards_and_requests(client, shop, ana):
    page = client.get("/t/cafe/app/").get_data(as_text=True)
    assert f'href="{CATALOGUE}"' in page and ">Recompensas<" in page
    assert f'href="{REQUESTS}"' in page and ">Mis solicitudes<" in page
    page = client.get(CATALOGUE).get_data(as_text=True)
    assert f'<a href="{CATALOGUE}" aria-current="page">' in page


def test_where_the_merchant_takes_no_requests_no_request_is_offered(client, shop, ana, db):
    with db(shop) as session:
        update_program(session, {"customer_redemption_requests": False})
        session.commit()
    give(db, shop, ana, 500)
    coffee = make_reward(db, shop, name="Café", points=50)
    page = html.unescape(client.get(CATALOGUE).get_data(as_text=True))
    assert "Tienes puntos suficientes." in section(page, "reward", coffee.id)
    assert '/request"' not in page
    assert "Café Central entrega las recompensas en el local" in page


def test_a_person_not_yet_a_member_sees_the_catalogue_and_cannot_request(
    client, app, shop, make_tenant, make_member, db
):
    elsewhere = make_member(make_tenant(slug="bar"), "eva@mail.example")
    sign_in_customer(client, app, elsewhere)
    coffee = make_reward(db, shop, name="Café", points=50)
    page = html.unescape(client.get(CATALOGUE).get_data(as_text=True))
    assert "Aún no eres cliente de Café Central." in page
    assert "Te faltan" not in page and '/request"' not in page
    before = state(db, shop, elsewhere.id)
    assert post_request(client, coffee.id).status_code == 404
    assert state(db, shop, elsewhere.id) == before


def test_a_visitor_is_asked_to_sign_in(client, shop):
    for url in (CATALOGUE, REQUESTS):
        answer = client.get(url)
        assert answer.status_code == 302 and "/t/cafe/app/login" in answer.headers["Location"]


# --- a request --------------------------------------------------------------------


def test_a_request_holds_the_points_emails_the_merchant_and_shows_pending_then_confirmed(
    client, shop, ana, db, smtp_server
):
    give(db, shop, ana, 150)
    cake = make_reward(db, shop, name="Torta de cumpleaños", points=100, stock=2)
    smtp_server.handler.messages.clear()
    answer = post_request(client, cake.id)
    assert answer.status_code == 302 and answer.headers["Location"].endswith(REQUESTS)
    with db(shop) as session:
        redemption = session.scalars(select(Redemption)).one()
        assert (redemption.status, redemption.points, redemption.member_id) == (
            Status.REQUESTED,
            100,
            ana.id,
        )
        assert (redemption.requested_by_kind, redemption.requested_by_id) == (
            "customer",
            ana.customer_id,
        )
    after = state(db, shop, ana.id)
    assert after["audit"] == (50, 50, 50)
    assert dict(after["stock"])[cake.id] == 2  # the stock goes down when staff confirm
    # the merchant's e-mail, through the real SMTP server
    messages = smtp_server.handler.wait_for(1)
    to_merchant = [m for m in messages if m["To"] == "cafe@x.example"]
    assert len(to_merchant) == 1
    assert "Torta de cumpleaños" in str(make_header(decode_header(to_merchant[0]["Subject"])))
    page = client.get(REQUESTS).get_data(as_text=True)
    assert ("success", _sent("Torta de cumpleaños", 100)) in flashes(page)
    line = section(page, "request", redemption.id)
    assert "Torta de cumpleaños" in line and "100 puntos" in line and "Pendiente" in line
    assert "Cancelar solicitud" in line
    with db(shop) as session:
        rewards.confirm(session, redemption, actor=STAFF)
        session.commit()
    line = section(client.get(REQUESTS).get_data(as_text=True), "request", redemption.id)
    assert "Confirmada" in line and "Cancelar solicitud" not in line
    assert state(db, shop, ana.id)["audit"] == (50, 50, 50)


def _sent(reward: str, points: int) -> str:
    return (
        f"Tu solicitud de {reward} fue enviada: {points} puntos quedan reservados hasta que "
        "Café Central la confirme."
    )


def test_a_request_the_merchant_cancels_shows_cancelled_with_the_points_back(client, shop, ana, db):
    give(db, shop, ana, 100)
    coffee = make_reward(db, shop, name="Café", points=100)
    assert post_request(client, coffee.id).status_code == 302
    with db(shop) as session:
        redemption = session.scalars(select(Redemption)).one()
        rewards.cancel(session, redemption, actor=STAFF)
        session.commit()
    line = section(client.get(REQUESTS).get_data(as_text=True), "request", redemption.id)
    assert "Cancelada" in line and "Cancelar solicitud" not in line
    assert state(db, shop, ana.id)["audit"] == (100, 100, 100)


def test_the_customer_withdraws_a_pending_request_into_the_same_lots(client, shop, ana, db):
    first = give(db, shop, ana, 60)
    second = give(db, shop, ana, 60)
    cake = make_reward(db, shop, name="Torta", points=100, stock=2)
    assert post_request(client, cake.id).status_code == 302
    assert lots_of(db, shop, ana.id) == {first.id: 0, second.id: 20}
    with db(shop) as session:
        redemption_id = session.scalars(select(Redemption.id)).one()
    answer = post_withdraw(client, redemption_id)
    assert answer.status_code == 302 and answer.headers["Location"].endswith(REQUESTS)
    assert lots_of(db, shop, ana.id) == {first.id: 60, second.id: 60}
    with db(shop) as session:
        redemption = session.get(Redemption, redemption_id)
        assert redemption.status == Status.CANCELLED
        assert (redemption.decided_by_kind, redemption.decided_by_id) == (
            "customer",
            ana.customer_id,
        )
        refund = session.get(ledger.Entry, redemption.refund_entry_id)
        assert (refund.kind, refund.points, refund.reverses_id) == (
            "refund",
            100,
            redemption.entry_id,
        )
    after = state(db, shop, ana.id)
    assert after["audit"] == (120, 120, 120) and dict(after["stock"])[cake.id] == 2
    page = client.get(REQUESTS).get_data(as_text=True)
    assert (
        "success",
        "Solicitud de Torta cancelada: 100 puntos volvieron a tu tarjeta.",
    ) in flashes(page)
    assert "Cancelada" in section(page, "request", redemption_id)
    # a second tap changes nothing: one refund
    assert post_withdraw(client, redemption_id).status_code == 302
    assert state(db, shop, ana.id) == after


def test_a_confirmed_request_cannot_be_withdrawn(client, shop, ana, db):
    give(db, shop, ana, 100)
    coffee = make_reward(db, shop, name="Café", points=100)
    assert post_request(client, coffee.id).status_code == 302
    with db(shop) as session:
        redemption = session.scalars(select(Redemption)).one()
        rewards.confirm(session, redemption, actor=STAFF)
        session.commit()
    before = state(db, shop, ana.id)
    answer = post_withdraw(client, redemption.id)
    assert answer.status_code == 302
    page = client.get(REQUESTS).get_data(as_text=True)
    assert ("error", "Solo se puede cancelar una solicitud pendiente.") in flashes(page)
    assert state(db, shop, ana.id) == before


# --- refusals hold nothing --------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        (
            "not_taken",
            409,
            "Este comercio no recibe solicitudes de recompensas desde la aplicación.",
        ),
        ("out_of_stock", 409, "Esta recompensa está agotada."),
        ("not_affordable", 409, "Aún no tienes puntos suficientes para esta recompensa."),
        ("inactive", 409, "Esta recompensa no está disponible."),
    ],
)
def test_a_refused_request_says_why_and_holds_nothing(client, shop, ana, db, case, status, message):
    give(db, shop, ana, 100)
    fields = {
        "not_taken": {},
        "out_of_stock": {"stock": 0},
        "not_affordable": {"points": 101},
        "inactive": {"active": False},
    }[case]
    reward = make_reward(db, shop, **{"name": "Café", "points": 100, **fields})
    if case == "not_taken":
        with db(shop) as session:
            update_program(session, {"customer_redemption_requests": False})
            session.commit()
    before = state(db, shop, ana.id)
    answer = post_request(client, reward.id)
    assert answer.status_code == status
    assert ("error", message) in flashes(answer.get_data(as_text=True))
    assert state(db, shop, ana.id) == before


def test_a_request_without_its_form_token_is_refused(client, shop, ana, db):
    give(db, shop, ana, 100)
    coffee = make_reward(db, shop, name="Café", points=100)
    before = state(db, shop, ana.id)
    url = f"/t/cafe/app/rewards/{coffee.id}/request"
    for key in ("", "short", "x" * 65, "not a token, spaces!"):
        page = client.get(CATALOGUE).get_data(as_text=True)
        answer = client.post(url, data={"csrf_token": csrf_token(page), "key": key})
        assert answer.status_code == 400
        assert ("error", "El formulario venció. Inténtalo de nuevo.") in flashes(
            answer.get_data(as_text=True)
        )
    # without the CSRF token
    assert client.post(url, data={"key": secrets.token_urlsafe(16)}).status_code == 400
    assert state(db, shop, ana.id) == before


# --- other people's ids -----------------------------------------------------------


def test_another_customers_request_is_404_and_nothing_changes(
    client, app, shop, ana, make_member, make_tenant, db
):
    eva = make_member(shop, "eva@mail.example")
    give(db, shop, eva, 100)
    coffee = make_reward(db, shop, name="Café", points=100)
    with db(shop) as session:
        theirs = rewards.request_reward(session, eva, coffee).id
        session.commit()
    bar = make_tenant(slug="bar")
    with db(bar) as session:
        update_program(session, {"customer_redemption_requests": True})
        session.commit()
    ana_at_bar = make_member(bar, "ana@mail.example")
    give(db, bar, ana_at_bar, 100)
    beer = make_reward(db, bar, name="Cerveza", points=100)
    with db(bar) as session:
        at_bar = rewards.request_reward(session, ana_at_bar, beer).id
        session.commit()
    before = (state(db, shop, eva.id), state(db, bar, ana_at_bar.id))
    # Ana's cookie: Eva's request here, her own request of another merchant under this one
    assert theirs != at_bar
    for redemption_id in (theirs, at_bar, 2**31, 10**30):
        assert post_withdraw(client, redemption_id).status_code == 404
    # another merchant's reward, and ids that name nothing
    for reward_id in (beer.id, 2**31, 10**30):
        assert post_request(client, reward_id).status_code == 404
    page = html.unescape(client.get(REQUESTS).get_data(as_text=True))
    assert "Aún no has solicitado ninguna recompensa." in page and "request-" not in page
    assert (state(db, shop, eva.id), state(db, bar, ana_at_bar.id)) == before


# --- a double submit --------------------------------------------------------------


def test_a_resent_request_holds_the_points_once(client, shop, ana, db):
    give(db, shop, ana, 300)
    coffee = make_reward(db, shop, name="Café", points=100)
    key = secrets.token_urlsafe(16)
    for _ in range(3):
        answer = post_request(client, coffee.id, key=key)
        assert answer.status_code == 302 and answer.headers["Location"].endswith(REQUESTS)
    after = state(db, shop, ana.id)
    assert len(after["redemptions"]) == 1
    assert after["audit"] == (200, 200, 200)
    # a new form (a new token) is a new request
    assert post_request(client, coffee.id).status_code == 302
    assert len(state(db, shop, ana.id)["redemptions"]) == 2


def test_two_taps_at_once_hold_the_points_once(app, shop, ana, db):
    give(db, shop, ana, 300)
    coffee = make_reward(db, shop, name="Café", points=100)
    key = secrets.token_urlsafe(16)
    app.test_client_class = FreshContextClient  # each request in its own app context
    clients = [app.test_client() for _ in range(2)]
    forms = []
    for tapper in clients:
        sign_in_customer(tapper, app, ana)
        page = tapper.get(CATALOGUE).get_data(as_text=True)
        forms.append({"csrf_token": csrf_token(page), "key": key})
    start, answers = threading.Barrier(2), []

    def tap(tapper, form):
        start.wait()
        answers.append(
            tapper.post(f"/t/cafe/app/rewards/{coffee.id}/request", data=form).status_code
        )

    threads = [threading.Thread(target=tap, args=pair) for pair in zip(clients, forms, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == [302, 302]
    after = state(db, shop, ana.id)
    assert len(after["redemptions"]) == 1
    assert after["audit"] == (200, 200, 200)


# --- on a brand's own domain ------------------------------------------------------


def test_on_a_brands_domain_the_pages_are_at_app_rewards(client, app, make_tenant, make_member, db):
    brand = make_tenant(slug="marca", name="Marca", domain="puntos.marca.example")
    with db(brand) as session:
        update_program(session, {"customer_redemption_requests": True})
        session.commit()
    member = make_member(brand, "ana@mail.example")
    give(db, brand, member, 100)
    coffee = make_reward(db, brand, name="Café", points=100)
    sign_in_customer(client, app, member, domain="puntos.marca.example")
    base = "http://puntos.marca.example"
    page = client.get("/app/rewards/", base_url=base).get_data(as_text=True)
    action = re.search(r'<form method="post" action="([^"]+/request)"', page).group(1)
    assert action.endswith(f"/app/rewards/{coffee.id}/request")
    answer = client.post(
        action,
        data={"csrf_token": csrf_token(page), "key": secrets.token_urlsafe(16)},
        base_url=base,
    )
    assert answer.status_code == 302 and answer.headers["Location"].endswith(
        "/app/rewards/requests"
    )
    requests_page = client.get(answer.headers["Location"], base_url=base).get_data(as_text=True)
    assert "Pendiente" in requests_page
    for shown in (page, requests_page):
        assert "Premia" not in shown
    assert state(db, brand, member.id)["audit"] == (0, 0, 0)
