"""Cupones in the panel: creating a campaign (single-use codes or a shared code) with
its form's errors, the list with claimed / stock, a campaign's codes with who claimed
them and when, deactivating a campaign or a code, the codes as CSV, the coupon entry
in Actividad and on the member's page; managers only; another merchant's ids 404."""

from __future__ import annotations

import csv
import html
import io
import re

import pytest
from sqlalchemy import func, select

from core.loyalty.staff import Role
from core.testing.weblogin import csrf_token, flashes, login
from plugins.coupons import claims, panel
from plugins.coupons.models import Campaign, Code
from tests.plugins.coupons.conftest import TODAY, customer_in, person

BASE = "/t/cafe/panel/coupons"


def create(client, data: dict):
    page = client.get(f"{BASE}/new").get_data(as_text=True)
    form = {
        "name": "BIENVENIDA2027",
        "points": "100",
        "starts_on": TODAY.isoformat(),
        "ends_on": "",
        "kind": "single",
        "count": "5",
        "stock": "",
        **data,
        "csrf_token": csrf_token(page),
    }
    return client.post(f"{BASE}/new", data=form)


def text(answer) -> str:
    return html.unescape(answer.get_data(as_text=True))


def test_a_manager_creates_single_use_codes_and_sees_them(client, db, shop):
    login(client, db, shop, Role.OWNER)
    answer = create(client, {"count": "5"})
    assert answer.status_code == 302
    page = client.get(answer.location)
    body = text(page)
    assert ("success", "Campaña “BIENVENIDA2027” creada.") in flashes(page.get_data(as_text=True))
    printed = re.findall(r"<code>([2-9A-Z]{5}-[2-9A-Z]{5})</code>", body)
    assert len(printed) == 5
    assert "0 / 5" in body and body.count("Disponible") == 5
    with db(shop) as session:
        assert session.scalar(select(func.count(Code.id))) == 5
    listing = text(client.get(f"{BASE}/"))
    assert "BIENVENIDA2027" in listing and "0 / 5" in listing


def test_a_shared_code_with_its_stock(client, db, shop):
    login(client, db, shop, Role.ADMIN)
    answer = create(client, {"kind": "shared", "stock": "10", "name": "Volante"})
    body = text(client.get(answer.location))
    assert "0 / 10" in body and len(re.findall(r"<code>", body)) == 1


def test_a_shared_code_the_merchant_chooses(client, db, shop):
    login(client, db, shop, Role.ADMIN)
    answer = create(client, {"kind": "shared", "name": "Bienvenida", "code": "bienvenida-2027"})
    assert "BIENVENIDA2027" in text(client.get(answer.location))
    again = create(client, {"kind": "shared", "name": "Otra", "code": "Bienvenida2027"})
    assert again.status_code == 422
    assert "Ya tienes un cupón con el código BIENVENIDA2027." in text(again)
    bad = create(client, {"kind": "shared", "name": "Otra", "code": "¡hola!"})
    assert bad.status_code == 422 and "de 4 a 24 letras y números" in text(bad)
    with db(shop) as session:
        assert list(session.scalars(select(Code.code))) == ["BIENVENIDA2027"]
        assert session.scalar(select(func.count(Campaign.id))) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": ""}, "Ponle un nombre a la campaña."),
        ({"points": "0"}, "Number must be at least 1."),
        ({"points": "diez"}, None),
        ({"ends_on": "2020-01-01"}, "El último día no puede ser anterior al primero."),
        ({"count": "99999"}, None),
    ],
)
def test_bad_input_is_a_form_error_and_writes_nothing(client, db, shop, data, message):
    login(client, db, shop, Role.OWNER)
    answer = create(client, data)
    assert answer.status_code == 422
    if message and "Number" not in message:
        assert message in text(answer)
    with db(shop) as session:
        assert session.scalar(select(func.count(Campaign.id))) == 0
        assert session.scalar(select(func.count(Code.id))) == 0


def test_who_claimed_and_when_deactivating_and_the_entry_in_activity(
    client, app, db, shop, make_campaign
):
    campaign, codes = make_campaign(shop)
    bea = person(app, "bea@mail.example", "Beatriz")
    with db(shop) as session:
        made = claims.claim(session, shop, customer_in(session, bea), codes[0])
        session.commit()
        member_code = made.member_id
    login(client, db, shop, Role.OWNER)
    body = text(client.get(f"{BASE}/{campaign.id}"))
    assert "1 / 3" in body and "Beatriz" in body and body.count("Reclamado") >= 1
    # Deactivate a code, then the campaign.
    with db(shop) as session:
        code_id = session.scalar(select(Code.id).where(Code.code == codes[1]))
        from core.loyalty.members import Membership

        member_code = session.get(Membership, member_code).code
    token = csrf_token(body)
    assert (
        client.post(f"{BASE}/codes/{code_id}/deactivate", data={"csrf_token": token}).status_code
        == 302
    )
    assert (
        client.post(f"{BASE}/{campaign.id}/deactivate", data={"csrf_token": token}).status_code
        == 302
    )
    with db(shop) as session:
        assert session.get(Code, code_id).active is False
        assert session.get(Campaign, campaign.id).active is False
    body = text(client.get(f"{BASE}/{campaign.id}"))
    assert "Desactivado" in body
    # The entry carries the campaign's name: on the member's page and in Actividad.
    member_page = text(client.get(f"/t/cafe/panel/loyalty/{member_code}"))
    assert "Cupón" in member_page and "BIENVENIDA2027" in member_page
    activity = text(client.get("/t/cafe/panel/activity/"))
    assert "Cupón" in activity and "BIENVENIDA2027" in activity


def test_the_codes_as_csv_with_their_claim_links(client, db, shop, make_campaign):
    campaign, codes = make_campaign(shop)
    login(client, db, shop, Role.OWNER)
    answer = client.get(f"{BASE}/{campaign.id}/codes.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = list(
        csv.reader(io.StringIO(answer.get_data(as_text=True).lstrip("\ufeff")), delimiter=";")
    )
    assert rows[0][:3] == ["Código", "Enlace para reclamar", "Puntos"]
    assert sorted(row[0].replace("-", "") for row in rows[1:]) == sorted(codes)
    assert all(row[1].endswith(f"/app/coupon/{row[0].replace('-', '')}") for row in rows[1:])


def test_employees_may_not_open_cupones(client, db, shop, make_campaign):
    campaign, _codes = make_campaign(shop)
    login(client, db, shop, Role.EMPLOYEE)
    assert client.get(f"{BASE}/").status_code == 403
    assert client.get(f"{BASE}/{campaign.id}").status_code == 403


def test_another_merchants_ids_answer_404_and_change_nothing(
    client, db, shop, other, make_campaign
):
    theirs, codes = make_campaign(other)
    with db(other) as session:
        code_id = session.scalar(select(Code.id).where(Code.code == codes[0]))
    login(client, db, shop, Role.OWNER)
    token = csrf_token(client.get(f"{BASE}/").get_data(as_text=True))
    assert client.get(f"{BASE}/{theirs.id}").status_code == 404
    assert client.get(f"{BASE}/{theirs.id}?page=2").status_code == 404
    assert client.get(f"{BASE}/{theirs.id}/codes.csv").status_code == 404
    for path in (f"{theirs.id}/deactivate", f"codes/{code_id}/deactivate", f"{theirs.id}/upload"):
        assert client.post(f"{BASE}/{path}", data={"csrf_token": token}).status_code == 404, path
    with db(other) as session:
        assert session.get(Campaign, theirs.id).active is True
        assert session.get(Code, code_id).active is True


def test_a_campaigns_codes_are_shown_page_by_page(
    client, db, shop, other, make_campaign, monkeypatch
):
    monkeypatch.setattr(panel, "CODES_PER_PAGE", 2)
    campaign, codes = make_campaign(shop, count=5)
    make_campaign(other, count=5)  # another merchant's codes are never on these pages
    login(client, db, shop, Role.OWNER)
    pages = []
    for number in (1, 2, 3):
        body = text(client.get(f"{BASE}/{campaign.id}?page={number}"))
        pages.append(re.findall(r"<code>([2-9A-Z]{5}-[2-9A-Z]{5})</code>", body))
        assert f"Página {number} de 3" in body
        assert "0 / 5" in body  # the stock counts every code, not the page's
        assert (f'href="{BASE}/{campaign.id}?page={number + 1}"' in body) == (number < 3)
        assert (f'href="{BASE}/{campaign.id}?page={number - 1}"' in body) == (number > 1)
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [c for p in pages for c in p] == [f"{c[:5]}-{c[5:]}" for c in codes]
    # No page number or one past the end: the first page, the last one.
    assert re.findall(r"<code>(\S+)</code>", text(client.get(f"{BASE}/{campaign.id}"))) == pages[0]
    for wrong in ("99", "0", "dos"):
        body = text(client.get(f"{BASE}/{campaign.id}?page={wrong}"))
        expected = pages[2] if wrong == "99" else pages[0]
        assert re.findall(r"<code>(\S+)</code>", body) == expected, wrong


def test_a_campaign_on_one_page_shows_no_pager(client, db, shop, make_campaign):
    campaign, _codes = make_campaign(shop, count=3)
    login(client, db, shop, Role.OWNER)
    body = text(client.get(f"{BASE}/{campaign.id}"))
    assert 'class="pager"' not in body and "0 / 3" in body
