"""Fidelización and the shared app's personal code: a person who is no member of the
café shows it, the cashier's page offers to enrol them with their first points (one
tap), welcome points once; another merchant's codes never match."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import func, select

from core.host.db import platform_session, utcnow
from core.loyalty import joining
from core.loyalty.ledger import Entry
from core.loyalty.members import Customer, Membership
from core.loyalty.program import update_program
from core.loyalty.staff import Role, create_staff
from core.testing.factories import PASSWORD
from core.testing.weblogin import flashes, post_login
from tests.core.panel.test_loyalty import form_of, page


@pytest.fixture
def shop(make_tenant, db):
    tenant = make_tenant(slug="cafe")
    with db(tenant) as session:
        update_program(
            session,
            {"points_per_amount": {"amount": "1000", "points": 1}, "welcome_points": 50},
        )
        create_staff(
            session,
            email="caja1@cafe.example",
            name="Caja 1",
            password=PASSWORD,
            role=Role.EMPLOYEE,
        )
        session.commit()
    return tenant


@pytest.fixture
def person(platform, app):
    """Ana, signed up on the shared app, with the code her "my code" page shows."""
    with platform_session(platform.sessions) as session:
        customer = Customer(
            email="ana@mail.example",
            email_confirmed_at=utcnow(),
            first_name="Ana",
            last_name="Núñez",
        )
        session.add(customer)
        session.flush()
        joining.personal_code(session, customer)
        session.commit()
        return customer


@pytest.fixture
def cashier(client, shop):
    assert post_login(client, "cafe", "caja1@cafe.example", PASSWORD).status_code == 302
    return client


def spaced(code: str) -> str:
    return joining.spaced(code).lower()


def members(db, tenant) -> list[Membership]:
    with db(tenant) as session:
        return list(session.scalars(select(Membership)))


def entries(db, tenant) -> list[tuple[str, int]]:
    with db(tenant) as session:
        return [(e.kind, e.points) for e in session.scalars(select(Entry).order_by(Entry.id))]


def test_a_personal_code_opens_the_offer_showing_nothing_of_the_person(cashier, person):
    # Typed as read aloud: lower case, in groups.
    answer = cashier.get(f"/t/cafe/panel/loyalty/?q={spaced(person.personal_code)}")
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith(f"/t/cafe/panel/loyalty/join/{person.personal_code}")
    text = html.unescape(page(cashier, answer.headers["Location"]))
    assert "Aún no es cliente" in text
    assert joining.spaced(person.personal_code) in text
    assert "Inscribir y dar puntos" in text and "inscríbela con sus primeros puntos" in text
    assert "También recibe los puntos de bienvenida: 50." in text
    # Nothing the person gave the app shows before they are a member.
    assert "ana@mail.example" not in text and "Ana" not in text and "Núñez" not in text


def test_one_tap_enrols_with_the_first_grant_and_welcome_points_once(cashier, db, shop, person):
    url = f"/t/cafe/panel/loyalty/join/{person.personal_code}"
    fields = form_of(page(cashier, url), url)
    posted = {**fields, "mode": "amount", "amount": "45.000"}
    answer = cashier.post(url, data=posted)
    assert answer.status_code == 302
    (member,) = members(db, shop)
    assert answer.headers["Location"].endswith(f"/t/cafe/panel/loyalty/{member.code}")
    assert (member.customer_id, member.joined_via, member.balance) == (person.id, "till", 95)
    assert entries(db, shop) == [("welcome", 50), ("earn", 45)]
    assert flashes(page(cashier, answer.headers["Location"])) == [
        ("success", "Ana Núñez ya es cliente."),
        ("success", "45 puntos dados a Ana Núñez por una compra de $45.000. Saldo: 95"),
    ]
    # A double tap (the same form again) writes nothing more.
    assert cashier.post(url, data=posted).status_code == 302
    assert entries(db, shop) == [("welcome", 50), ("earn", 45)]
    # From now on the personal code leads to the member's page, as their member code does.
    again = cashier.get(f"/t/cafe/panel/loyalty/?q={person.personal_code}")
    assert again.headers["Location"].endswith(f"/t/cafe/panel/loyalty/{member.code}")
    assert cashier.get(url).headers["Location"].endswith(f"/t/cafe/panel/loyalty/{member.code}")
    # A later grant on the offer's address (an old tab) gives points, never a second welcome.
    later = form_of(
        page(cashier, f"/t/cafe/panel/loyalty/{member.code}"),
        f"/t/cafe/panel/loyalty/{member.code}/give",
    )
    cashier.post(url, data={**later, "mode": "amount", "amount": "10.000"})
    assert entries(db, shop) == [("welcome", 50), ("earn", 45), ("earn", 10)]


def test_a_refused_grant_enrols_nobody(cashier, db, shop, person):
    url = f"/t/cafe/panel/loyalty/join/{person.personal_code}"
    fields = form_of(page(cashier, url), url)
    answer = cashier.post(url, data={**fields, "mode": "amount", "amount": "-5000"})
    assert answer.status_code == 422
    text = html.unescape(answer.get_data(as_text=True))
    assert "El monto debe ser mayor que cero." in text
    assert members(db, shop) == [] and entries(db, shop) == []
    assert "ya es cliente" not in text  # nobody was said to be enrolled


def test_a_large_first_grant_is_confirmed_and_enrols_once(cashier, db, shop, person):
    with db(shop) as session:
        update_program(session, {"large_grant_points": 100})
        session.commit()
    url = f"/t/cafe/panel/loyalty/join/{person.personal_code}"
    fields = form_of(page(cashier, url), url)
    answer = cashier.post(url, data={**fields, "mode": "amount", "amount": "500.000"})
    assert answer.status_code == 200
    assert members(db, shop) == []  # waiting for the confirmation: nothing written
    text = answer.get_data(as_text=True)
    assert f'action="{url}"' in text
    confirm = {**fields, "mode": "amount", "amount": "500.000", "confirm_points": "500"}
    done = cashier.post(url, data=confirm)
    assert done.status_code == 302
    said = [text for _kind, text in flashes(page(cashier, done.headers["Location"]))]
    assert said.count("Ana Núñez ya es cliente.") == 1
    assert cashier.post(url, data=confirm).status_code == 302
    assert entries(db, shop) == [("welcome", 50), ("earn", 500)]


def test_a_member_already_goes_to_their_page(cashier, db, shop, person, make_member):
    member = make_member(shop, "ana@mail.example")
    answer = cashier.get(f"/t/cafe/panel/loyalty/?q={person.personal_code}")
    assert answer.headers["Location"].endswith(f"/t/cafe/panel/loyalty/{member.code}")
    # The offer's address with a member code of the café's leads to that member too.
    offer = cashier.get(f"/t/cafe/panel/loyalty/join/{member.code}")
    assert offer.headers["Location"].endswith(f"/t/cafe/panel/loyalty/{member.code}")


def test_unknown_or_deleted_personal_codes_find_nobody(cashier, platform, db, shop, person):
    unknown = joining.new_personal_code()
    answer = cashier.get(f"/t/cafe/panel/loyalty/?q={unknown}")
    assert answer.status_code == 200  # searched as text: nobody
    assert cashier.get(f"/t/cafe/panel/loyalty/join/{unknown}").status_code == 404
    url = f"/t/cafe/panel/loyalty/join/{person.personal_code}"
    fields = form_of(page(cashier, url), url)
    with platform_session(platform.sessions) as session:
        session.get(Customer, person.id).deleted_at = func.now()
        session.commit()
    assert cashier.get(url).status_code == 404
    assert cashier.post(url, data={**fields, "amount": "45.000"}).status_code == 404
    assert members(db, shop) == []


def test_another_merchants_member_code_never_matches(cashier, make_tenant, make_member, db, shop):
    elsewhere = make_member(make_tenant(slug="bar"), "beto@mail.example")
    answer = cashier.get(f"/t/cafe/panel/loyalty/?q={elsewhere.code}")
    assert answer.status_code == 200 and elsewhere.code not in answer.headers.get("Location", "")
    assert cashier.get(f"/t/cafe/panel/loyalty/{elsewhere.code}").status_code == 404
    # A member code is never taken for a personal code, nor the other way round.
    assert joining.as_personal_code(elsewhere.code) is None
    assert cashier.get(f"/t/cafe/panel/loyalty/join/{elsewhere.code}").status_code == 404
    assert members(db, shop) == []


def test_the_offer_needs_a_signed_in_cashier(client, shop, person, db):
    url = f"/t/cafe/panel/loyalty/join/{person.personal_code}"
    assert client.get(url).status_code == 302
    assert client.post(url, data={"amount": "45.000"}).status_code in (302, 400)
    assert members(db, shop) == []


def test_the_code_of_an_account_not_confirmed_finds_nobody(cashier, platform, db, shop, person):
    # A code drawn while confirmed, the account then unconfirmed (say, its e-mail changed).
    with platform_session(platform.sessions) as session:
        session.get(Customer, person.id).email_confirmed_at = None
        session.commit()
    assert cashier.get(f"/t/cafe/panel/loyalty/join/{person.personal_code}").status_code == 404
    assert cashier.get(f"/t/cafe/panel/loyalty/?q={person.personal_code}").status_code == 200
    assert members(db, shop) == []
