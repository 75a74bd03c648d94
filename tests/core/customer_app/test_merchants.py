"""The shared app's merchants: found by the cities of their stores, joined with a tap
(welcome points once), brands never listed; and the person's own code."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import func, select

from core.customer_app import directory
from core.host.actors import Actor
from core.host.db import platform_session, utcnow
from core.loyalty import joining
from core.loyalty.customers import CODE_LENGTH
from core.loyalty.joining import PERSONAL_CODE_LENGTH
from core.loyalty.ledger import Entry
from core.loyalty.locations import create_location, update_location
from core.loyalty.members import Customer, Membership
from core.loyalty.program import update_program
from core.testing.weblogin import csrf_token, sign_in_customer


@pytest.fixture
def town(make_tenant, db):
    """Two cafés in Medellín (written two ways), a bakery in Bogotá, a brand with a
    store in Medellín, and a bar whose only Medellín store is closed."""
    cafe = make_tenant(slug="cafe", name="Café Aroma")
    tinto = make_tenant(slug="tinto", name="Tinto Bar")
    bakery = make_tenant(slug="bakery", name="Panadería Sol")
    brand = make_tenant(slug="brand", name="Brand Coffee", domain="brand.example")
    closed = make_tenant(slug="closed", name="Closed Bar")
    stores = [
        (cafe, "Centro", "Medellín"),
        (cafe, "Norte", "Bogotá"),
        (tinto, "Laureles", "  medellin "),
        (bakery, "Chapinero", "Bogotá"),
        (brand, "Poblado", "Medellín"),
    ]
    for tenant, name, city in stores:
        with db(tenant) as session:
            create_location(session, name=name, city=city)
            session.commit()
    with db(closed) as session:
        store = create_location(session, name="Viejo", city="Medellín")
        update_location(session, store, active=False)
        session.commit()
    with db(cafe) as session:
        update_program(session, {"welcome_points": 50})
        session.commit()
    return cafe, tinto, bakery, brand, closed


@pytest.fixture
def person(platform):
    with platform_session(platform.sessions) as session:
        customer = Customer(
            email="ana@mail.example",
            email_confirmed_at=utcnow(),
            first_name="Ana",
            last_name="Núñez",
        )
        session.add(customer)
        session.commit()
        return customer


def test_cities_are_those_of_the_shared_apps_stores_each_once(platform, town):
    with platform_session(platform.sessions) as session:
        assert directory.cities(session) == ["Bogotá", "Medellín"]


def test_merchants_are_found_by_city_whatever_the_accents_brands_and_closed_stores_aside(
    platform, town
):
    with platform_session(platform.sessions) as session:
        found = [t.slug for t in directory.merchants_in(session, "MEDELLIN")]
        assert found == ["cafe", "tinto"]  # by name; not the brand, not the closed store
        assert [t.slug for t in directory.merchants_in(session, "bogota")] == ["cafe", "bakery"]
        assert directory.merchants_in(session, "Cali") == []
        assert directory.merchants_in(session, "   ") == []


def test_the_page_lists_the_citys_merchants_with_a_join_button(client, app, town, person):
    sign_in_customer(client, app, person)
    page = client.get("/app/merchants/?city=medellin").get_data(as_text=True)
    assert "Café Aroma" in page and "Tinto Bar" in page
    assert "Brand Coffee" not in page and "Closed Bar" not in page
    assert 'action="/app/merchants/cafe/join"' in page
    assert 'action="/app/merchants/brand/join"' not in page
    cities = client.get("/app/merchants/").get_data(as_text=True)
    assert "Bogotá" in cities and "Medellín" in cities and "Café Aroma" not in cities


def test_the_page_asks_a_visitor_to_sign_in(client, town):
    answer = client.get("/app/merchants/?city=Medellín")
    assert answer.status_code == 302 and "/app/login" in answer.headers["Location"]


def _join(client, slug: str):
    token = csrf_token(client.get("/app/merchants/?city=Medellín").get_data(as_text=True))
    return client.post(f"/app/merchants/{slug}/join", data={"csrf_token": token})


def _memberships(db, tenant) -> list[Membership]:
    with db(tenant) as session:
        return list(session.scalars(select(Membership)))


def test_joining_makes_the_person_a_member_with_the_welcome_points_once(
    client, app, db, town, person
):
    cafe = town[0]
    sign_in_customer(client, app, person)
    answer = _join(client, "cafe")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/t/cafe/app/")
    (member,) = _memberships(db, cafe)
    assert (member.customer_id, member.balance, member.joined_via) == (person.id, 50, "app")
    # They chose to join: the merchant's record starts from the person's own profile.
    assert (member.first_name, member.last_name, member.display_name) == (
        "Ana",
        "Núñez",
        "Ana Núñez",
    )
    assert len(member.code) == CODE_LENGTH
    card = client.get("/t/cafe/app/").get_data(as_text=True)
    assert member.code in card
    # Joining again (a second tap, a resubmitted form) changes nothing.
    assert _join(client, "cafe").status_code == 302
    with db(cafe) as session:
        assert session.scalar(select(func.count(Membership.id))) == 1
        assert session.scalar(select(func.count(Entry.id))) == 1
        assert session.scalar(select(Membership.balance)) == 50
    page = client.get("/app/merchants/?city=Medellín").get_data(as_text=True)
    assert 'action="/app/merchants/cafe/join"' not in page and 'href="/t/cafe/app/"' in page


def test_a_member_enrolled_by_the_merchant_who_joins_keeps_their_membership(
    client, app, db, town, make_member
):
    cafe = town[0]
    member = make_member(cafe, "ana@mail.example", first_name="Ana María")
    sign_in_customer(client, app, member)
    assert _join(client, "cafe").status_code == 302
    (again,) = _memberships(db, cafe)
    assert (again.id, again.first_name, again.balance) == (member.id, "Ana María", 50)


def test_a_brand_or_an_unknown_merchant_cannot_be_joined_from_the_shared_app(
    client, app, db, town, person
):
    brand = town[3]
    sign_in_customer(client, app, person)
    assert _join(client, "brand").status_code == 404
    assert _join(client, "nowhere").status_code == 404
    assert _memberships(db, brand) == []


def test_joining_needs_the_forms_token_and_a_signed_in_person(client, app, db, town, person):
    cafe = town[0]
    answer = client.post("/app/merchants/cafe/join", data={})
    assert answer.status_code in (302, 400)
    sign_in_customer(client, app, person)
    assert client.post("/app/merchants/cafe/join", data={}).status_code == 400
    assert _memberships(db, cafe) == []


def test_my_code_is_drawn_once_and_is_no_member_code(client, app, platform, town, person):
    sign_in_customer(client, app, person)
    page = client.get("/app/code")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    with platform_session(platform.sessions) as session:
        code = session.get(Customer, person.id).personal_code
    assert len(code) == PERSONAL_CODE_LENGTH != CODE_LENGTH
    assert f"{code[:4]} {code[4:8]} {code[8:]}" in html.unescape(text)
    assert "<svg" in text
    client.get("/app/code")
    with platform_session(platform.sessions) as session:
        assert session.get(Customer, person.id).personal_code == code


def test_personal_codes_differ_from_person_to_person(client, app, platform, person):
    with platform_session(platform.sessions) as session:
        other = Customer(email="bea@mail.example", email_confirmed_at=utcnow())
        session.add(other)
        session.commit()
    codes = set()
    for customer in (person, other):
        sign_in_customer(client, app, customer)
        assert client.get("/app/code").status_code == 200
    with platform_session(platform.sessions) as session:
        codes = set(session.scalars(select(Customer.personal_code)))
    assert len(codes) == 2 and None not in codes


def test_joining_by_the_service_gives_welcome_points_once(db, town, person):
    cafe = town[0]
    with db(cafe) as session:
        customer = session.scalar(
            select(Customer).where(Customer.id == person.id),
            execution_options={"person_lookup": True},
        )
        first = joining.join(session, customer, joined_via="app", actor=Actor.system())
        second = joining.join(session, customer, joined_via="app", actor=Actor.system())
        session.commit()
        assert first.id == second.id and first.balance == 50
        assert session.scalar(select(func.count(Entry.id))) == 1


def test_an_account_not_confirmed_yet_neither_joins_nor_gets_a_code(
    client, app, platform, db, town
):
    with platform_session(platform.sessions) as session:
        unconfirmed = Customer(email="eve@mail.example")
        session.add(unconfirmed)
        session.commit()
    sign_in_customer(client, app, unconfirmed)
    answer = _join(client, "cafe")
    assert answer.status_code == 302 and "/app/merchants/" in answer.headers["Location"]
    page = html.unescape(client.get(answer.headers["Location"]).get_data(as_text=True))
    assert "Primero confirma tu correo electrónico" in page
    assert _memberships(db, town[0]) == []
    mine = html.unescape(client.get("/app/code").get_data(as_text=True))
    assert "Primero confirma tu correo electrónico" in mine and "<svg" not in mine
    with platform_session(platform.sessions) as session:
        assert session.get(Customer, unconfirmed.id).personal_code is None


def test_a_brands_domain_has_no_directory_nor_personal_code(client, app, town, person):
    sign_in_customer(client, app, person, domain="brand.example")
    for path in ("/app/merchants/?city=Medellín", "/app/code"):
        assert client.get(path, base_url="http://brand.example").status_code == 404
    token = csrf_token(client.get("/app/login", base_url="http://brand.example").get_data(True))
    joined = client.post(
        "/app/merchants/cafe/join", data={"csrf_token": token}, base_url="http://brand.example"
    )
    assert joined.status_code == 404


def test_a_suspended_merchant_is_neither_listed_nor_joined(client, app, db, platform, town, person):
    cafe = town[0]
    with platform_session(platform.sessions) as session:
        session.get(type(cafe), cafe.id).suspended_at = utcnow()
        session.commit()
    sign_in_customer(client, app, person)
    page = client.get("/app/merchants/?city=Medellín").get_data(as_text=True)
    assert "Café Aroma" not in page and "Tinto Bar" in page
    assert _join(client, "cafe").status_code == 404
    assert _memberships(db, cafe) == []
