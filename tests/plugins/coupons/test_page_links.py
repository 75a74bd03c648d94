"""Page QRs: an http or https address checked when saved; the short link on the
merchant's app redirects to it and counts scans per local day (shown in the panel);
never an open redirect; another merchant's token or id answers 404 and changes
nothing; switched off, the QR opens nothing."""

from __future__ import annotations

import html
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from core.host.db import clock_at
from core.host.errors import InvalidInput
from core.testing.weblogin import csrf_token, login
from plugins.coupons import page_links
from plugins.coupons.page_links import PageLink, PageScan
from tests.concurrency import run_together, sessions  # noqa: F401  (fixture)


def make_link(db, tenant, name="Carta", url="https://menu.example/carta?mesa=4"):
    with db(tenant) as session:
        link = page_links.create_page_link(session, name, url)
        session.commit()
        return link


def scans(db, tenant) -> dict[date, int]:
    with db(tenant) as session:
        return dict(session.execute(select(PageScan.day, PageScan.scans)).all())


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "ftp://files.example/menu.pdf",
        "//evil.example/",
        "/t/cafe/app/",
        "https://",
        "menu.example",
        "https://menu.example/a b",
        "data:text/html,<script>alert(1)</script>",
        "https://menu.example/" + "a" * 2000,
    ],
)
def test_only_http_and_https_addresses_are_saved(db, shop, url):
    with db(shop) as session:
        with pytest.raises(InvalidInput) as refused:
            page_links.create_page_link(session, "Carta", url)
        assert "target_url" in refused.value.fields
        session.rollback()
        assert session.scalar(select(func.count(PageLink.id))) == 0


def test_the_short_link_redirects_and_counts_scans_per_local_day(client, app, db, shop):
    link = make_link(db, shop)
    url = page_links.short_url(shop, link)
    assert url == f"http://localhost/t/cafe/q/{link.token}"
    # 04:00 UTC on 3 December is still the 2nd in Bogotá.
    with clock_at(datetime(2026, 12, 3, 4, tzinfo=UTC)):
        first = client.get(f"/t/cafe/q/{link.token}")
    assert first.status_code == 302
    assert first.headers["Location"] == "https://menu.example/carta?mesa=4"
    assert first.headers["Cache-Control"] == "no-store"
    with clock_at(datetime(2026, 12, 3, 15, tzinfo=UTC)):
        for _ in range(3):
            assert client.get(f"/t/cafe/q/{link.token}").status_code == 302
    assert scans(db, shop) == {date(2026, 12, 2): 1, date(2026, 12, 3): 3}


def test_the_brands_short_link_is_on_its_own_domain(app, make_tenant, db):
    brand = make_tenant(slug="marca", plan="white-label", domain="puntos.marca.example")
    link = make_link(db, brand)
    with app.app_context():
        assert page_links.short_url(brand, link) == f"https://puntos.marca.example/q/{link.token}"


def test_never_an_open_redirect(client, db, shop, other):
    link = make_link(db, shop)
    theirs = make_link(db, other, url="https://otra.example/")
    for path in (
        f"/t/cafe/q/{link.token}?next=https://evil.example/",
        f"/t/cafe/q/{link.token}/https://evil.example/",
        "/t/cafe/q/https:%2F%2Fevil.example",
        f"/t/cafe/q/{theirs.token}",  # another merchant's token at this merchant
        f"/t/cafe/q/{link.token}x",
        "/t/cafe/q/" + "a" * 200,
    ):
        answer = client.get(path)
        assert answer.status_code in (302, 404), path
        if answer.status_code == 302:
            assert answer.headers["Location"] == link.target_url, path
    assert client.get(f"/t/cafe/q/{theirs.token}").status_code == 404
    assert scans(db, other) == {}
    # A row changed behind the service's back is checked again before redirecting.
    with db(shop) as session:
        session.get(PageLink, link.id).target_url = "javascript:alert(1)"
        session.commit()
    assert client.get(f"/t/cafe/q/{link.token}").status_code == 404


def test_the_panel_creates_lists_scans_and_switches_off(client, db, shop):
    login(client, db, shop)
    page = client.get("/t/cafe/panel/coupons/pages/").get_data(as_text=True)
    refused = client.post(
        "/t/cafe/panel/coupons/pages/",
        data={"csrf_token": csrf_token(page), "name": "Carta", "target_url": "javascript:alert(1)"},
    )
    assert refused.status_code == 422
    assert "empiece por http:// o https://" in html.unescape(refused.get_data(as_text=True))
    with db(shop) as session:
        assert session.scalar(select(func.count(PageLink.id))) == 0
    made = client.post(
        "/t/cafe/panel/coupons/pages/",
        data={
            "csrf_token": csrf_token(page),
            "name": "Carta",
            "target_url": "https://menu.example/",
        },
    )
    assert made.status_code == 302
    with db(shop) as session:
        link = session.scalar(select(PageLink))
    for _ in range(2):
        client.get(f"/t/cafe/q/{link.token}")
    listed = html.unescape(client.get("/t/cafe/panel/coupons/pages/").get_data(as_text=True))
    card = listed[listed.index(f'id="page-{link.id}"') :]
    assert "Escaneos en total: 2" in card
    today = page_links.local_day(shop).isoformat()
    assert f'data-day="{today}">2<' in card
    assert f"http://localhost/t/cafe/q/{link.token}" in card
    off = client.post(
        f"/t/cafe/panel/coupons/pages/{link.id}/deactivate",
        data={"csrf_token": csrf_token(listed)},
    )
    assert off.status_code == 302
    assert client.get(f"/t/cafe/q/{link.token}").status_code == 404
    assert sum(scans(db, shop).values()) == 2


def test_another_merchants_page_answers_404_and_changes_nothing(client, db, shop, other):
    theirs = make_link(db, other)
    login(client, db, shop)
    page = client.get("/t/cafe/panel/coupons/pages/").get_data(as_text=True)
    assert theirs.target_url not in page
    answer = client.post(
        f"/t/cafe/panel/coupons/pages/{theirs.id}/deactivate",
        data={"csrf_token": csrf_token(page)},
    )
    assert answer.status_code == 404
    print_page = client.get("/t/cafe/panel/coupons/print/").get_data(as_text=True)
    started = client.post(
        "/t/cafe/panel/coupons/print/",
        data={"csrf_token": csrf_token(print_page), "source": f"p{theirs.id}", "layout": "poster"},
    )
    assert started.status_code == 404
    with db(other) as session:
        assert session.get(PageLink, theirs.id).active


@pytest.mark.postgres
def test_concurrent_first_scans_of_a_day_all_count(app, db, shop, sessions):  # noqa: F811
    link = make_link(db, shop)

    def scan(_i: int) -> str:
        with sessions(shop.id) as session:
            page_links.open_link(session, shop, link.token)
            session.commit()
        return "ok"

    results = run_together(app, 20, scan)
    assert [r[0] for r in results] == ["ok"] * 20
    assert list(scans(db, shop).values()) == [20]
