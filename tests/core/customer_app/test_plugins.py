"""Plugins in the customer app: their pages (a blueprint under /app/), menu entries
(`app_menu`) and card lines (`card_lines`), only where they are active."""

from __future__ import annotations

import pytest

from core.testing.weblogin import sign_in_customer
from tests.core.customer_app import gifts_plugin

pytestmark = pytest.mark.premia_plugins(gifts_plugin)


@pytest.fixture
def shops(make_plan, make_tenant):
    make_plan("with-gifts", {"gifts"})
    return make_tenant(slug="cafe", plan="with-gifts"), make_tenant(slug="bar")


@pytest.fixture(autouse=True)
def _mended():
    gifts_plugin.broken = False
    yield
    gifts_plugin.broken = False


def test_an_active_plugin_adds_its_page_menu_entry_and_card_line(client, app, shops, make_member):
    cafe, _bar = shops
    member = make_member(cafe, "ana@mail.example")
    sign_in_customer(client, app, member)
    card = client.get("/t/cafe/app/").get_data(as_text=True)
    assert "Gifts waiting" in card and "0 at cafe" in card
    assert 'href="/t/cafe/app/gifts/"' in card and "Gifts of cafe" in card
    assert client.get("/t/cafe/app/gifts/").get_data(as_text=True) == "gifts of cafe"


def test_where_the_plugin_is_not_active_nothing_of_it_shows(client, app, shops, make_member):
    _cafe, bar = shops
    member = make_member(bar, "ana@mail.example")
    sign_in_customer(client, app, member)
    card = client.get("/t/bar/app/").get_data(as_text=True)
    assert member.code in card
    assert "Gifts" not in card
    assert client.get("/t/bar/app/gifts/").status_code == 404


def test_a_plugin_page_asks_a_visitor_to_sign_in(client, shops):
    answer = client.get("/t/cafe/app/gifts/")
    assert answer.status_code == 302 and "/t/cafe/app/login" in answer.headers["Location"]


def test_a_failing_card_line_is_left_out_and_the_card_still_shows(
    client, app, shops, make_member, caplog
):
    cafe, _bar = shops
    member = make_member(cafe, "ana@mail.example")
    sign_in_customer(client, app, member)
    gifts_plugin.broken = True
    answer = client.get("/t/cafe/app/")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert member.code in page and "Gifts waiting" not in page
    assert "gifts are broken" in caplog.text
