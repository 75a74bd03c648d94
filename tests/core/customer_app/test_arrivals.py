"""The link a person arrived from, remembered until they join a merchant
(`core/customer_app/arrivals.py`) and told to plugins (`member_joined_from_link`):
through registering with the confirmation opened in another browser, an existing
account's link, the card's join button and Google sign-in; never for a member."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.customer_app import arrivals
from core.host.db import platform_session, utcnow
from core.loyalty.members import Customer, Membership
from core.testing.factories import FreshContextClient
from core.testing.weblogin import csrf_token, sign_in_customer
from tests.core.customer_app import arrivals_plugin, providers
from tests.core.customer_app.providers import come_back, google_consent, start
from tests.core.customer_app.test_account_pages import PASSWORD, path_in, register

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:authlib")


@pytest.fixture(scope="module")
def google():
    with providers.google_provider() as url:
        yield url


@pytest.fixture
def app(make_app, google):
    application = make_app(PREMIA_EXTRA_PLUGINS=[arrivals_plugin], **providers.config(google, None))
    arrivals_plugin.joined.clear()
    with application.app_context():
        yield application


@pytest.fixture
def shops(make_plan, make_tenant):
    make_plan("with-arrivals", {"arrivals"})
    return make_tenant(slug="cafe", plan="with-arrivals"), make_tenant(
        slug="bar", plan="with-arrivals"
    )


def person(app, email: str) -> int:
    """A confirmed account of the customer app, no member anywhere."""
    with platform_session(app.extensions["premia"].sessions) as session:
        customer = Customer(email=email, first_name="Cid", email_confirmed_at=utcnow())
        session.add(customer)
        session.commit()
        return customer.id


def member_of(db, tenant, email: str) -> Membership:
    with db(tenant) as session:
        return next(m for m in session.scalars(select(Membership)) if m.customer.email == email)


def test_registering_after_a_link_tells_the_plugin_even_confirmed_elsewhere(
    client, app, db, shops, smtp_server
):
    cafe, _bar = shops
    assert client.get("/t/cafe/app/arrivals/from/spring").status_code == 200
    assert register(client, "/t/cafe").status_code == 200
    [mail] = smtp_server.handler.wait_for(1)
    other_browser = FreshContextClient(app)
    assert other_browser.get(path_in(mail)).status_code == 302
    member = member_of(db, cafe, "ana@mail.example")
    assert arrivals_plugin.joined == [("cafe", member.id, "arrivals:spring")]


def test_an_existing_accounts_link_carries_it_too(client, app, db, shops, smtp_server):
    cafe, _bar = shops
    person(app, "ana@mail.example")  # has an account, no member of the café
    client.get("/t/cafe/app/arrivals/from/summer")
    register(client, "/t/cafe")
    [mail] = smtp_server.handler.wait_for(1)
    other_browser = FreshContextClient(app)
    path = path_in(mail)
    page = other_browser.get(path).get_data(as_text=True)
    answer = other_browser.post(
        path,
        data={"password": PASSWORD, "confirm": PASSWORD, "csrf_token": csrf_token(page)},
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)
    member = member_of(db, cafe, "ana@mail.example")
    assert arrivals_plugin.joined == [("cafe", member.id, "arrivals:summer")]


def test_the_cards_join_button_after_a_link_and_never_for_a_member(client, app, db, shops):
    _cafe, bar = shops
    customer_id = person(app, "cid@mail.example")
    sign_in_customer(client, app, type("Person", (), {"id": customer_id})())
    client.get("/t/bar/app/arrivals/from/bar-week")  # another merchant's: not the café's
    page = client.get("/t/cafe/app/").get_data(as_text=True)
    client.post("/t/cafe/app/join", data={"csrf_token": csrf_token(page)})
    assert arrivals_plugin.joined == []  # joined the café with no café link
    client.get("/t/cafe/app/arrivals/from/late")
    client.post("/t/cafe/app/join", data={"csrf_token": csrf_token(page)})
    assert arrivals_plugin.joined == []  # a member already
    page = client.get("/t/bar/app/").get_data(as_text=True)
    client.post("/t/bar/app/join", data={"csrf_token": csrf_token(page)})
    member = member_of(db, bar, "cid@mail.example")
    assert arrivals_plugin.joined == [("bar", member.id, "arrivals:bar-week")]


@pytest.mark.postgres
def test_signing_up_with_google_after_a_link(client, app, db, shops, google):
    cafe, _bar = shops
    providers.google_person(google, "g-eva", email="eva@mail.example", email_verified=True)
    client.get("/t/cafe/app/arrivals/from/google-ad")
    authorize = start(client, "/t/cafe/app/social/google/sign-in")
    assert come_back(client, google_consent(authorize, "g-eva")).status_code == 302
    member = member_of(db, cafe, "eva@mail.example")
    assert arrivals_plugin.joined == [("cafe", member.id, "arrivals:google-ad")]


def test_only_short_plain_texts_are_kept(app, shops):
    cafe, _bar = shops
    assert arrivals.valid("referrals:AB12") == "referrals:AB12"
    for bad in ("", "a b", "x" * 81, "<script>", None, 7):
        assert arrivals.valid(bad) is None
    with app.test_request_context(), pytest.raises(ValueError):
        arrivals.remember(cafe, "a b")
