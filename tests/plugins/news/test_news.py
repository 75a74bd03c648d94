"""News (novedades): managers write offers with an image and dates; the customer app
gets the ones active today; nobody else reaches them."""

from __future__ import annotations

import html
from datetime import date

import pytest
from sqlalchemy import select

from core.loyalty.staff import Role
from core.testing.weblogin import flashes, login, token
from plugins.news import current_news
from plugins.news.models import NewsItem
from plugins.news.news import create_news
from tests.core.panel.managing import png, upload


@pytest.fixture(autouse=True)
def upload_folder(app, tmp_path):
    app.config["PREMIA_UPLOAD_FOLDER"] = str(tmp_path)
    return tmp_path


def _items(db, tenant):
    with db(tenant) as session:
        return session.scalars(select(NewsItem).order_by(NewsItem.id)).all()


def test_current_news_are_the_active_ones_whose_dates_include_today(make_tenant, db):
    shop = make_tenant()
    with db(shop) as session:
        create_news(session, title="Siempre")
        create_news(
            session, title="Black Friday", starts_on=date(2026, 11, 27), ends_on=date(2026, 11, 30)
        )
        create_news(session, title="Navidad", starts_on=date(2026, 12, 1))
        create_news(session, title="Apagada", active=False)
        session.commit()
        titles = lambda day: [i.title for i in current_news(session, day)]  # noqa: E731
        assert titles(date(2026, 11, 26)) == ["Siempre"]
        assert titles(date(2026, 11, 27)) == ["Black Friday", "Siempre"]
        assert titles(date(2026, 11, 30)) == ["Black Friday", "Siempre"]  # the last day counts
        assert titles(date(2026, 12, 1)) == ["Navidad", "Siempre"]


def test_the_menu_shows_news_to_managers_of_plans_with_the_plugin(
    client, make_tenant, db, make_plan
):
    shop = make_tenant()  # the free plan includes news
    login(client, db, shop)
    home = client.get(f"/t/{shop.slug}/panel/").get_data(as_text=True)
    assert f'href="/t/{shop.slug}/panel/news/"' in home and ">Novedades<" in home
    make_plan("bare", set())
    bare = make_tenant(plan="bare")
    login(client, db, bare)
    assert "/panel/news/" not in client.get(f"/t/{bare.slug}/panel/").get_data(as_text=True)
    assert client.get(f"/t/{bare.slug}/panel/news/").status_code == 404


def test_manager_publishes_an_offer_with_image_and_dates(client, make_tenant, db, upload_folder):
    shop = make_tenant()
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/news/new"
    answer = client.post(
        url,
        data={
            "csrf_token": token(client, url),
            "title": "2x1 en cafés",
            "body": "Todos los martes de diciembre",
            "starts_on": "2026-12-01",
            "ends_on": "2026-12-31",
            "active": "y",
            "image": upload(png()),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert ("success", "Novedad “2x1 en cafés” publicada.") in flashes(
        answer.get_data(as_text=True)
    )
    [item] = _items(db, shop)
    assert (item.title, item.body, item.starts_on, item.ends_on, item.active) == (
        "2x1 en cafés",
        "Todos los martes de diciembre",
        date(2026, 12, 1),
        date(2026, 12, 31),
        True,
    )
    assert (upload_folder / str(shop.id) / item.image).read_bytes() == png()
    edit = f"/t/{shop.slug}/panel/news/{item.id}"
    client.post(
        edit,
        data={
            "csrf_token": token(client, edit),
            "title": "3x2 en cafés",
            "body": "",
            "starts_on": "2026-12-01",
            "ends_on": "",
            "active": "y",
        },
    )
    [item] = _items(db, shop)
    assert (item.title, item.ends_on, item.body) == ("3x2 en cafés", None, None)
    client.post(f"{edit}/active", data={"csrf_token": token(client, edit)})
    assert _items(db, shop)[0].active is False


def test_refused_input_saves_nothing(client, make_tenant, db, upload_folder):
    shop = make_tenant()
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/news/new"
    backwards = html.unescape(
        client.post(
            url,
            data={
                "csrf_token": token(client, url),
                "title": "Oferta",
                "starts_on": "2026-12-10",
                "ends_on": "2026-12-01",
                "active": "y",
                "image": upload(png()),
            },
            content_type="multipart/form-data",
        ).get_data(as_text=True)
    )
    assert "La fecha final no puede ser anterior a la inicial." in backwards
    untitled = html.unescape(
        client.post(url, data={"csrf_token": token(client, url), "title": " "}).get_data(
            as_text=True
        )
    )
    assert "El título es obligatorio." in untitled
    fake = html.unescape(
        client.post(
            url,
            data={
                "csrf_token": token(client, url),
                "title": "Oferta",
                "image": upload(b"solo texto, no una imagen", "oferta.gif"),
            },
            content_type="multipart/form-data",
        ).get_data(as_text=True)
    )
    assert "Sube una imagen PNG, JPEG, GIF o WebP." in fake
    assert _items(db, shop) == []
    assert not any(upload_folder.rglob("*.*"))


def test_employees_403_and_other_merchants_items_404(client, make_tenant, db):
    shop, other = make_tenant(), make_tenant()
    with db(other) as session:
        theirs = create_news(session, title="Suya").id
        session.commit()
    login(client, db, shop, Role.EMPLOYEE)
    base = f"/t/{shop.slug}/panel/news"
    for url in (f"{base}/", f"{base}/new"):
        assert client.get(url).status_code == 403
    login(client, db, shop)
    csrf = token(client, f"{base}/")
    assert client.get(f"{base}/{theirs}").status_code == 404
    assert (
        client.post(f"{base}/{theirs}", data={"csrf_token": csrf, "title": "Mía"}).status_code
        == 404
    )
    assert client.post(f"{base}/{theirs}/active", data={"csrf_token": csrf}).status_code == 404
    [item] = _items(db, other)
    assert (item.title, item.active) == ("Suya", True)
