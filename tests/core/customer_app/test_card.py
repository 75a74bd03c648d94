"""A merchant's card in the app: the member code and a QR that decodes to it (rendered
by Chromium, read by zxing), the balance, the points that expire soon with their local
date, the plugins' lines, the way to the history."""

from __future__ import annotations

import html
import os
import re
import subprocess
from datetime import UTC, datetime

import pytest
import zxingcpp
from PIL import Image

from core.host.actors import Actor
from core.host.db import clock_at
from core.loyalty import ledger
from core.loyalty.members import Customer, Membership
from core.loyalty.program import update_program
from core.testing.weblogin import sign_in_customer

STAFF = Actor.staff(None)
CHROMIUM = os.environ.get("PREMIA_TEST_CHROMIUM", "/usr/bin/chromium")
NOW = datetime(2026, 12, 21, 15, tzinfo=UTC)


@pytest.fixture
def cafe(make_tenant, db):
    """Café Central in Bogotá; points expire a month after they are earned."""
    tenant = make_tenant(slug="cafe", name="Café Central")
    with db(tenant) as session:
        update_program(session, {"expiry_months": 1})
        session.commit()
    return tenant


def earn_at(db, tenant, member, points, moment):
    with clock_at(moment), db(tenant) as session:
        ledger.earn(session, session.get(Membership, member.id), points=points, actor=STAFF)
        session.commit()


def read(client, url):
    with clock_at(NOW):
        answer = client.get(url)
    assert answer.status_code == 200, answer.status_code
    return html.unescape(answer.get_data(as_text=True)).replace("\xa0", " ")


def rendered_qr_text(svg: str, tmp_path) -> list[str]:
    """What a scanner reads from the SVG as Chromium draws it (its own headless
    screenshot: Playwright's sync API cannot run beside the browser tests' loop)."""
    page, picture = tmp_path / "qr.html", tmp_path / "qr.png"
    page.write_text(f"<body style='margin:0'><div style='width:320px'>{svg}</div></body>")
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={picture}",
            "--window-size=400,400",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return [found.text for found in zxingcpp.read_barcodes(Image.open(picture))]


def test_the_card_shows_the_code_and_a_qr_that_decodes_to_it(
    client, app, cafe, make_member, tmp_path
):
    ana = make_member(cafe, "ana@mail.example")
    sign_in_customer(client, app, ana)
    page = read(client, "/t/cafe/app/")
    assert f'<p class="code" aria-label="Tu código">{ana.code}</p>' in page
    (svg,) = re.findall(r'<div class="qr"[^>]*>(<svg.*?</svg>)</div>', page, re.S)
    assert rendered_qr_text(svg, tmp_path) == [ana.code]


def test_balance_and_points_expiring_soon_with_their_local_date(client, app, db, cafe, make_member):
    ana = make_member(cafe, "ana@mail.example")
    earn_at(db, cafe, ana, 120, datetime(2026, 12, 1, 5, tzinfo=UTC))  # until 1 Jan, 00:00
    earn_at(db, cafe, ana, 1, datetime(2026, 12, 1, 4, tzinfo=UTC))  # until 31 Dec, 23:00 there
    earn_at(db, cafe, ana, 1000, datetime(2026, 12, 20, 15, tzinfo=UTC))  # 20 Jan: not soon
    # Its date has passed; the run on 1 January takes it: still in the balance.
    earn_at(db, cafe, ana, 7, datetime(2026, 11, 10, 15, tzinfo=UTC))
    sign_in_customer(client, app, ana)

    page = read(client, "/t/cafe/app/")

    assert '<p class="points">1.128 puntos</p>' in page
    assert re.findall(r'<p class="expiring">([^<]*)</p>', page) == [
        "7 puntos vencieron el 10 de diciembre",
        "1 punto vence el 31 de diciembre",
        "120 puntos vencen el 1 de enero",
    ]
    assert 'href="/t/cafe/app/history"' in page


def test_the_expiring_points_in_the_persons_language(client, app, db, cafe, make_member, platform):
    ana = make_member(cafe, "ana@mail.example")
    earn_at(db, cafe, ana, 1200, datetime(2026, 12, 1, 5, tzinfo=UTC))
    with platform.sessions() as session:
        session.get(Customer, ana.customer_id).language = "pt_BR"
        session.commit()
    sign_in_customer(client, app, ana)
    page = read(client, "/t/cafe/app/")
    assert "1.200 pontos vencem em 1 de janeiro" in page


def test_nothing_expiring_soon_says_nothing(client, app, db, cafe, make_member):
    ana = make_member(cafe, "ana@mail.example")
    earn_at(db, cafe, ana, 50, datetime(2026, 12, 20, 15, tzinfo=UTC))
    sign_in_customer(client, app, ana)
    page = read(client, "/t/cafe/app/")
    assert "50 puntos" in page and 'class="expiring"' not in page


def test_not_a_member_of_this_merchant_shows_no_card(client, app, cafe, make_tenant, make_member):
    bar = make_tenant(slug="bar", name="Bar Sur")
    ana = make_member(bar, "ana@mail.example")
    sign_in_customer(client, app, ana)
    page = read(client, "/t/cafe/app/")
    assert "Aún no eres cliente de Café Central." in page
    assert ana.code not in page and "<svg" not in page


def _person(platform, email, *, confirmed=True, first_name=""):
    from core.host.db import platform_session, utcnow

    with platform_session(platform.sessions) as session:
        customer = Customer(
            email=email,
            first_name=first_name,
            email_confirmed_at=utcnow() if confirmed else None,
        )
        session.add(customer)
        session.commit()
        return customer


def test_a_person_joins_from_the_merchants_card_once_with_the_welcome_points(
    client, app, cafe, db, platform
):
    from core.testing.weblogin import csrf_token

    with db(cafe) as session:
        update_program(session, {"welcome_points": 15})
        session.commit()
    eva = _person(platform, "eva@mail.example", first_name="Eva")
    sign_in_customer(client, app, eva)
    page = client.get("/t/cafe/app/").get_data(as_text=True)
    assert "Unirme" in page and "/app/code" in page
    for _attempt in range(2):  # a second tap changes nothing
        answer = client.post("/t/cafe/app/join", data={"csrf_token": csrf_token(page)})
        assert answer.status_code == 302
    with db(cafe) as session:
        (member,) = session.query(Membership).all()
        assert (member.customer_id, member.balance, member.first_name) == (eva.id, 15, "Eva")
        assert member.joined_via == "app"
    assert "15 puntos" in read(client, "/t/cafe/app/")


def test_an_unconfirmed_account_cannot_join_from_the_card(client, app, cafe, db, platform):
    from core.testing.weblogin import csrf_token

    eva = _person(platform, "eva@mail.example", confirmed=False)
    sign_in_customer(client, app, eva)
    token = csrf_token(client.get("/t/cafe/app/").get_data(as_text=True))
    client.post("/t/cafe/app/join", data={"csrf_token": token})
    with db(cafe) as session:
        assert session.query(Membership).count() == 0


def test_the_card_hands_its_own_live_secret_and_says_since_when_its_balance_is_known(
    client, app, cafe, make_member, db
):
    ana = make_member(cafe, "ana@mail.example")
    bruno = make_member(cafe, "bruno@mail.example")
    sign_in_customer(client, app, ana)
    with clock_at(datetime(2026, 12, 1, 19, 5, tzinfo=UTC)):  # 14:05 in Bogotá
        text = html.unescape(client.get("/t/cafe/app/").get_data(as_text=True))
        again = html.unescape(client.get("/t/cafe/app/").get_data(as_text=True))
    with db(cafe) as session:
        secrets = {m.id: m.live_secret for m in session.query(Membership)}
    assert secrets[ana.id] and secrets[bruno.id] is None  # drawn on the first view, once
    assert f'data-live-secret="{secrets[ana.id]}"' in text and secrets[ana.id] in again
    assert f'data-live-code="{ana.code}"' in text
    assert "sin conexión · saldo al 1/12 14:05" in text
    assert 'data-qr-lib="/t/cafe/app/qr.mjs"' in text


def test_the_qr_encoder_is_served_by_the_app(client):
    answer = client.get("/app/qr.mjs")
    assert answer.status_code == 200 and answer.mimetype == "text/javascript"
    assert b"export{" in answer.data
