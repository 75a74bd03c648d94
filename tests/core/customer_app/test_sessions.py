"""Customer sessions: their own cookie, ended on the server, never a staff session."""

from __future__ import annotations

from core.customer_app.sessions import COOKIE
from core.loyalty.staff import Role
from core.testing.weblogin import login, sign_in_customer


def test_the_card_asks_a_visitor_to_sign_in(client, make_tenant):
    shop = make_tenant(slug="cafe")
    answer = client.get("/t/cafe/app/")
    assert answer.status_code == 302
    assert "/t/cafe/app/login" in answer.headers["Location"]
    assert shop.slug == "cafe"


def test_a_signed_in_member_sees_their_card_and_balance(client, app, make_tenant, make_member):
    shop = make_tenant(slug="cafe")
    member = make_member(shop, "ana@mail.example")
    sign_in_customer(client, app, member)
    page = client.get("/t/cafe/app/").get_data(as_text=True)
    assert member.code in page


def test_the_shared_home_lists_only_the_persons_own_cards(client, app, make_tenant, make_member):
    cafe, bakery = make_tenant(slug="cafe"), make_tenant(slug="panaderia")
    ana = make_member(cafe, "ana@mail.example")
    make_member(bakery, "ana@mail.example")
    make_member(bakery, "eva@mail.example")
    make_tenant(slug="otra")
    sign_in_customer(client, app, ana)
    page = client.get("/app/").get_data(as_text=True)
    assert "/t/cafe/app/" in page and "/t/panaderia/app/" in page
    assert "/t/otra/" not in page


def test_a_customer_cookie_never_opens_the_panel(client, app, make_tenant, make_member):
    shop = make_tenant(slug="cafe")
    sign_in_customer(client, app, make_member(shop, "ana@mail.example"))
    answer = client.get("/t/cafe/panel/")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


def test_a_staff_login_never_opens_the_app(client, db, make_tenant):
    shop = make_tenant(slug="cafe")
    login(client, db, shop, Role.OWNER)
    assert client.get_cookie(COOKIE) is None
    answer = client.get("/t/cafe/app/")
    assert answer.status_code == 302 and "/app/login" in answer.headers["Location"]
