"""Automatic membership: where the merchant's plan includes it, the first points given
to the personal code of a person of the shared app make them a member by themselves
(at the till and through the POS API), welcome points once; elsewhere the till asks
and the POS API answers such a code as unknown."""

from __future__ import annotations

import html
from importlib.metadata import entry_points

import pytest
from sqlalchemy import select

import plugins.auto_membership
from core.host.db import platform_session, utcnow
from core.loyalty import joining
from core.loyalty.ledger import Entry
from core.loyalty.members import Customer, Membership
from core.loyalty.program import update_program
from core.testing.factories import PASSWORD
from core.testing.weblogin import owner_email, post_login
from plugins.api import tokens
from tenants.services import get_plan
from tests.core.panel.test_loyalty import form_of, page

# Installed from setup.cfg's entry point once the package is (re)installed; until then
# (a fresh checkout of the source alone) the tests install it themselves.
if "auto_membership" not in {ep.name for ep in entry_points(group="premia.plugins")}:
    pytestmark = pytest.mark.premia_plugins(plugins.auto_membership)


@pytest.fixture
def make_shop(make_tenant, make_plan, db, platform):
    """A café on a plan with the POS API, with or without automatic membership:
    1 point per 1.000 COP, 50 welcome points."""
    make_plan("with-auto", {"api", "auto_membership"})
    make_plan("without-auto", {"api"})

    def build(slug: str, automatic: bool):
        tenant = make_tenant(slug=slug, plan="with-auto" if automatic else "without-auto")
        with db(tenant) as session:
            update_program(
                session,
                {"points_per_amount": {"amount": "1000", "points": 1}, "welcome_points": 50},
            )
            session.commit()
        return tenant

    return build


@pytest.fixture
def person(platform):
    with platform_session(platform.sessions) as session:
        customer = Customer(email="ana@mail.example", email_confirmed_at=utcnow(), first_name="Ana")
        session.add(customer)
        session.flush()
        joining.personal_code(session, customer)
        session.commit()
        return customer


def token_of(db, tenant) -> str:
    with db(tenant) as session:
        _row, secret = tokens.create_token(session, name="Caja", scopes=tokens.parse_scopes("all"))
        session.commit()
    return secret


def give(client, secret: str, code: str, points: int, key: str):
    return client.post(
        f"/api/v1/customers/{code}/points",
        json={"points": points},
        headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": key},
    )


def ledger(db, tenant) -> list[tuple[str, int]]:
    with db(tenant) as session:
        return [(e.kind, e.points) for e in session.scalars(select(Entry).order_by(Entry.id))]


def test_the_plugin_declares_itself_for_the_white_label_plan(platform):
    info = platform.plugins.infos["auto_membership"]
    assert info.plans == ("white-label",)
    with platform_session(platform.sessions) as session:
        assert "auto_membership" in get_plan(session, "white-label").plugin_names


def test_the_first_points_through_the_api_enrol_the_person_once(client, db, make_shop, person):
    shop = make_shop("cafe", automatic=True)
    secret = token_of(db, shop)
    answer = give(client, secret, person.personal_code, 30, "first")
    assert answer.status_code == 201, answer.json
    assert (answer.json["points"], answer.json["balance"]) == (30, 80)
    with db(shop) as session:
        (member,) = session.scalars(select(Membership))
        assert (member.customer_id, member.joined_via) == (person.id, "api")
    # The POS's retry gives nothing twice, and enrols nobody twice.
    assert give(client, secret, person.personal_code, 30, "first").json["balance"] == 80
    # Later grants to the personal code reach the member, without a second welcome.
    assert give(client, secret, person.personal_code, 5, "second").json["balance"] == 85
    assert give(client, secret, member.code, 5, "third").json["balance"] == 90
    assert ledger(db, shop) == [("welcome", 50), ("earn", 30), ("earn", 5), ("earn", 5)]


def test_without_the_plugin_the_api_answers_a_personal_code_as_unknown(
    client, db, make_shop, person
):
    shop = make_shop("cafe", automatic=False)
    secret = token_of(db, shop)
    personal = give(client, secret, person.personal_code, 30, "k1")
    unknown = give(client, secret, joining.new_personal_code(), 30, "k2")
    assert personal.status_code == unknown.status_code == 404
    assert personal.json == unknown.json  # nothing says the person exists
    with db(shop) as session:
        assert session.scalars(select(Membership)).all() == []
    assert ledger(db, shop) == []


def test_switched_off_by_the_merchant_it_enrols_nobody(client, db, platform, make_shop, person):
    shop = make_shop("cafe", automatic=True)
    with db(shop) as session:
        platform.plugins.switch(session, shop, "auto_membership", False)
        session.commit()
        assert joining.joins_at_first_points(session) is False
    assert give(client, token_of(db, shop), person.personal_code, 30, "k1").status_code == 404
    assert ledger(db, shop) == []


def test_reading_a_person_by_their_personal_code_is_never_possible(client, db, make_shop, person):
    shop = make_shop("cafe", automatic=True)
    secret = token_of(db, shop)
    headers = {"Authorization": f"Bearer {secret}"}
    assert (
        client.get(f"/api/v1/customers/{person.personal_code}", headers=headers).status_code == 404
    )
    entries = client.get(f"/api/v1/customers/{person.personal_code}/entries", headers=headers)
    assert entries.status_code == 404
    with db(shop) as session:
        assert session.scalars(select(Membership)).all() == []


def test_another_merchants_member_code_is_no_personal_code(client, db, make_shop, make_member):
    shop, other = make_shop("cafe", automatic=True), make_shop("bar", automatic=True)
    elsewhere = make_member(other, "beto@mail.example")
    assert give(client, token_of(db, shop), elsewhere.code, 30, "k1").status_code == 404
    with db(shop) as session:
        assert session.scalars(select(Membership)).all() == []


def test_at_the_till_the_first_grant_enrols_by_itself(client, db, make_shop, person):
    shop = make_shop("cafe", automatic=True)
    with db(shop) as session:
        assert joining.joins_at_first_points(session) is True
    assert post_login(client, "cafe", owner_email(db, shop), PASSWORD).status_code == 302
    url = f"/t/cafe/panel/loyalty/join/{person.personal_code}"
    text = html.unescape(page(client, url))
    assert "Inscribir y dar puntos" not in text
    assert "sus primeros puntos la inscriben como cliente de Shop" in text
    fields = form_of(text, url)
    assert client.post(url, data={**fields, "amount": "45.000"}).status_code == 302
    assert ledger(db, shop) == [("welcome", 50), ("earn", 45)]


def test_the_hook_answers_only_where_the_plugin_is_active(db, platform, make_shop):
    with_it, without_it = make_shop("cafe", automatic=True), make_shop("bar", automatic=False)
    with db(with_it) as session:
        assert platform.plugins.ask(session, "enrol_at_first_points") == [True]
    with db(without_it) as session:
        assert platform.plugins.ask(session, "enrol_at_first_points") == []
        assert joining.joins_at_first_points(session) is False
