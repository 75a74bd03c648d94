"""News in the customer app: the merchant's items active today in the merchant's own
calendar, with their images and dates; a page and a menu entry only where the
plugin is active; only that merchant's items."""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, date, datetime

import pytest

from core.host.db import clock_at
from core.testing.weblogin import sign_in_customer
from core.web.uploads import save_image
from plugins.news.news import create_news
from tests.core.panel.managing import png


@pytest.fixture(autouse=True)
def upload_folder(app, tmp_path):
    app.config["PREMIA_UPLOAD_FOLDER"] = str(tmp_path)
    return tmp_path


def publish(db, tenant, **values):
    with db(tenant) as session:
        item = create_news(session, **values)
        session.commit()
        return item


def titles(page: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r"<h2>(.*?)</h2>", page)]


def item_of(page: str, item_id: int) -> str:
    match = re.search(rf'<li class="news-item tile" id="news-{item_id}">(.*?)</li>', page, re.S)
    assert match, f"no news item {item_id} on the page"
    return html.unescape(match.group(1))


def test_a_member_sees_the_active_news_with_images_and_dates(
    client, app, make_tenant, make_member, db
):
    shop = make_tenant(slug="cafe", name="Café Central")
    other = make_tenant(slug="bar")
    image = save_image(shop.id, io.BytesIO(png()))
    offer = publish(
        db,
        shop,
        title="2x1 en cafés",
        body="Todos los martes\nde diciembre",
        image=image,
        starts_on=date(2026, 12, 1),
        ends_on=date(2026, 12, 31),
    )
    publish(db, shop, title="Siempre")
    publish(db, shop, title="Apagada", active=False)
    publish(
        db, shop, title="Black Friday", starts_on=date(2026, 11, 27), ends_on=date(2026, 11, 30)
    )
    publish(db, shop, title="Reyes", starts_on=date(2027, 1, 6))
    publish(db, other, title="Del bar")
    sign_in_customer(client, app, make_member(shop, "ana@mail.example"))
    with clock_at(datetime(2026, 12, 5, 15, tzinfo=UTC)):
        answer = client.get("/t/cafe/app/news/")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert titles(page) == ["2x1 en cafés", "Siempre"]
    line = item_of(page, offer.id)
    assert "Del 1 de diciembre de 2026 al 31 de diciembre de 2026" in line
    assert "Todos los martes\nde diciembre" in line
    assert f'src="/t/cafe/uploads/{image}"' in line
    assert client.get(f"/t/cafe/uploads/{image}").data == png()
    # the app's menu leads here, on the card too
    card = client.get("/t/cafe/app/").get_data(as_text=True)
    assert 'href="/t/cafe/app/news/"' in card and ">Novedades<" in card
    assert '<a href="/t/cafe/app/news/" aria-current="page">' in page


def test_dates_are_the_merchants_local_dates(client, app, make_tenant, make_member, db):
    # 03:00 UTC on 6 December: still the 5th in Bogotá, already the 6th in Tokyo.
    moment = datetime(2026, 12, 6, 3, tzinfo=UTC)
    bogota = make_tenant(slug="bogota", timezone="America/Bogota")
    tokyo = make_tenant(slug="tokyo", timezone="Asia/Tokyo")
    for shop in (bogota, tokyo):
        publish(db, shop, title="Último día", ends_on=date(2026, 12, 5))
        publish(db, shop, title="Desde mañana", starts_on=date(2026, 12, 6))
        eva = make_member(shop, "eva@mail.example")  # one account, a member of both
    sign_in_customer(client, app, eva)
    with clock_at(moment):
        at_bogota = client.get("/t/bogota/app/news/").get_data(as_text=True)
        at_tokyo = client.get("/t/tokyo/app/news/").get_data(as_text=True)
    assert titles(at_bogota) == ["Último día"]
    assert "Hasta el 5 de diciembre de 2026" in html.unescape(at_bogota)
    assert titles(at_tokyo) == ["Desde mañana"]
    assert "Desde el 6 de diciembre de 2026" in html.unescape(at_tokyo)


def test_no_news_says_so(client, app, make_tenant, make_member, db):
    shop = make_tenant(slug="cafe", name="Café Central")
    publish(db, shop, title="Apagada", active=False)
    sign_in_customer(client, app, make_member(shop, "ana@mail.example"))
    page = html.unescape(client.get("/t/cafe/app/news/").get_data(as_text=True))
    assert "Café Central no tiene novedades por ahora." in page and titles(page) == []


def test_where_news_is_not_active_there_is_no_page_and_no_menu_entry(
    client, app, make_tenant, make_member, make_plan, platform, db
):
    make_plan("bare", set())
    bare = make_tenant(slug="bare", plan="bare")
    publish(db, bare, title="Oculta")
    switched_off = make_tenant(slug="off")
    publish(db, switched_off, title="Oculta")
    with db(switched_off) as session:
        platform.plugins.switch(session, switched_off, "news", False)
        session.commit()
    for shop in (bare, switched_off):
        sign_in_customer(client, app, make_member(shop, "ana@mail.example"))
        assert client.get(f"/t/{shop.slug}/app/news/").status_code == 404
        card = client.get(f"/t/{shop.slug}/app/").get_data(as_text=True)
        assert "/app/news/" not in card and "Novedades" not in card


def test_a_visitor_is_asked_to_sign_in(client, make_tenant):
    make_tenant(slug="cafe")
    answer = client.get("/t/cafe/app/news/")
    assert answer.status_code == 302 and "/t/cafe/app/login" in answer.headers["Location"]
