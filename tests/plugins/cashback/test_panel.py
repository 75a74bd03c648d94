"""Pay with points in the panel, at a Colombian café: a point is worth 10 COP and at most
50% of a bill may be paid with points; Ana has 3.000 points and a bill of $45.000."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from core.host.actors import Actor
from core.loyalty import ledger
from core.loyalty.ledger import Entry
from core.loyalty.members import Membership
from core.loyalty.staff import Role
from core.testing.weblogin import flashes, login


@pytest.fixture
def shop(make_plan, make_tenant, db, platform):
    make_plan("cashback", {"cashback"})
    tenant = make_tenant(slug="cafe", plan="cashback")
    with db(tenant) as session:
        platform.plugins.save_settings(
            session, "cashback", {"point_value": "10", "max_pay_with_points_percent": "50"}
        )
        session.commit()
    return tenant


@pytest.fixture
def ana(shop, make_member, db):
    member = make_member(shop, first_name="Ana", last_name="Núñez")
    with db(shop) as session:
        ledger.earn(session, session.get(Membership, member.id), points=3000, actor=Actor.system())
        session.commit()
    return member


def url(tenant, member):
    return f"/t/{tenant.slug}/panel/cashback/{member.code}/pay"


def fields(client, address):
    answer = client.get(address)
    assert answer.status_code == 200, answer.status_code
    text = answer.get_data(as_text=True)
    found = dict(re.findall(r'name="(csrf_token|key)"[^>]*value="([^"]*)"', text))
    found.update(re.findall(r'id="(csrf_token|key)" name="\1" type="hidden" value="([^"]*)"', text))
    assert set(found) == {"csrf_token", "key"}, found
    return found


def state(db, tenant, member):
    with db(tenant) as session:
        balance = session.get(Membership, member.id).balance
        payments = session.scalar(
            select(func.count())
            .select_from(Entry)
            .where(Entry.member_id == member.id, Entry.kind == "pay_with_points")
        )
        return balance, payments


def test_the_cashiers_page_links_to_pay_with_points(client, db, shop, ana):
    login(client, db, shop, Role.EMPLOYEE)
    text = client.get(f"/t/cafe/panel/loyalty/{ana.code}").get_data(as_text=True)
    assert f'href="{url(shop, ana)}"' in text and "Pagar con puntos" in text


def test_an_employee_sees_the_maximum_for_a_bill_then_pays_within_it(client, db, shop, ana):
    login(client, db, shop, Role.EMPLOYEE)
    page = html.unescape(client.get(url(shop, ana)).get_data(as_text=True))
    assert "Con puntos se puede pagar hasta el 50 % de la cuenta" in page.replace("\xa0", " ")
    form = fields(client, url(shop, ana))
    checked = client.post(url(shop, ana), data={**form, "bill_amount": "45.000", "check": "1"})
    assert checked.status_code == 200
    text = html.unescape(checked.get_data(as_text=True)).replace("\xa0", " ")
    # floor(45.000 × 50% / 10) = 2.250 points; Ana has 3.000, so 2.250 is offered
    assert "Para una cuenta de $45.000: como máximo 2.250 puntos." in text
    assert 'value="2250"' in text
    assert state(db, shop, ana) == (3000, 0)  # asking for the maximum pays nothing

    paid = client.post(
        url(shop, ana), data={**form, "bill_amount": "45.000", "points": "2250", "pay": "1"}
    )
    assert paid.status_code == 302  # one request at a time, as a browser (SQLite)
    assert flashes(client.get(paid.headers["Location"]).get_data(as_text=True)) == [
        (
            "success",
            "Pagado con puntos: 2.250 puntos ($22.500). Queda por pagar: $22.500. "
            "Nuevo saldo: 750 puntos.",
        )
    ]
    assert state(db, shop, ana) == (750, 1)


def test_above_the_cap_the_services_message_is_a_form_error_and_nothing_is_paid(
    client, db, shop, ana
):
    login(client, db, shop)
    form = fields(client, url(shop, ana))
    answer = client.post(
        url(shop, ana), data={**form, "bill_amount": "45000", "points": "2251", "pay": "1"}
    )
    assert answer.status_code == 422
    text = html.unescape(answer.get_data(as_text=True)).replace("\xa0", " ")
    assert re.search(
        r'class="error" role="alert">Con puntos se puede pagar como máximo el '
        r"50% de la cuenta: como máximo 2250 puntos[^<]*\$45\.000",
        text,
    ), text
    assert state(db, shop, ana) == (3000, 0)


@pytest.mark.parametrize(
    ("bill", "points", "message"),
    [
        ("", "100", "Escribe el monto de la cuenta."),
        ("cuarenta", "100", "Escribe el monto como un número, p. ej. $45.000."),
        ("0", "100", "El monto debe ser mayor que cero."),
        ("45000", "-5", "Los puntos deben ser un número entero mayor que cero."),
        ("45000", "1.5", "Escribe un número entero."),
    ],
)
def test_bad_input_gives_form_errors_and_changes_nothing(
    client, db, shop, ana, bill, points, message
):
    login(client, db, shop)
    form = fields(client, url(shop, ana))
    answer = client.post(
        url(shop, ana), data={**form, "bill_amount": bill, "points": points, "pay": "1"}
    )
    assert answer.status_code in (400, 422)
    text = html.unescape(answer.get_data(as_text=True)).replace("\xa0", " ")
    assert f'class="error" role="alert">{message}</p>' in text, text
    assert state(db, shop, ana) == (3000, 0)


def test_more_points_than_the_member_has_is_refused(client, db, shop, ana):
    login(client, db, shop)
    form = fields(client, url(shop, ana))
    answer = client.post(
        url(shop, ana), data={**form, "bill_amount": "80000", "points": "3001", "pay": "1"}
    )
    assert answer.status_code == 409
    assert "El cliente no tiene suficientes puntos." in html.unescape(answer.get_data(as_text=True))
    assert state(db, shop, ana) == (3000, 0)


def test_a_double_tap_with_the_same_key_pays_once(client, db, shop, ana):
    login(client, db, shop, Role.EMPLOYEE)
    form = fields(client, url(shop, ana))
    data = {**form, "bill_amount": "20.000", "points": "1000", "pay": "1"}
    assert client.post(url(shop, ana), data=data).status_code == 302
    assert client.post(url(shop, ana), data=data).status_code == 302
    assert state(db, shop, ana) == (2000, 1)


def test_another_tenants_member_and_a_tenant_without_cashback_answer_404(
    client, db, shop, ana, make_tenant, make_member
):
    login(client, db, shop)
    other = make_tenant(slug="otro")  # the free plan: no cashback
    stranger = make_member(other)
    assert client.get(url(shop, stranger)).status_code == 404
    form = fields(client, url(shop, ana))
    assert (
        client.post(
            url(shop, stranger), data={**form, "bill_amount": "1000", "points": "1", "pay": "1"}
        ).status_code
        == 404
    )
    login(client, db, other)
    assert client.get(url(other, stranger)).status_code == 404
    text = client.get(f"/t/otro/panel/loyalty/{stranger.code}").get_data(as_text=True)
    assert "/panel/cashback/" not in text
