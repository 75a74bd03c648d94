"""Fidelización and the app's rotating QR: Caja 1 scans Ana's live code and her page
opens; a stale one (a photo) says so instead of searching; another merchant's member's
live code finds nobody. Where Café Central redeems only with the live QR, her typed
static code still opens her page but the redemption is refused until her live QR is
scanned, and nothing is written meanwhile."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.host.actors import Actor
from core.host.db import utcnow
from core.loyalty import ledger, live_codes
from core.loyalty.members import Membership
from core.loyalty.program import update_program
from core.loyalty.rewards import Redemption, create_reward
from core.loyalty.staff import Role, create_staff
from core.testing.factories import PASSWORD
from core.testing.weblogin import flashes, post_login
from tests.core.panel.test_loyalty import form_of, page


@pytest.fixture
def shop(make_tenant, db):
    tenant = make_tenant(slug="cafe", name="Café Central")
    with db(tenant) as session:
        create_staff(
            session,
            email="caja1@cafe.example",
            name="Caja 1",
            password=PASSWORD,
            role=Role.EMPLOYEE,
        )
        tenant.reward_id = create_reward(session, name="Café gratis", points=30, stock=5).id
        session.commit()
    return tenant


def with_secret(db, tenant, member, points=0):
    with db(tenant) as session:
        row = session.get(Membership, member.id)
        row.live_secret = live_codes.new_secret()
        if points:
            ledger.earn(session, row, points=points, actor=Actor.staff(None))
        session.commit()
        session.refresh(row)
        return row


@pytest.fixture
def ana(shop, db, make_member):
    return with_secret(db, shop, make_member(shop, "ana@mail.example", first_name="Ana"), 100)


def live(member, ago=timedelta(0)) -> str:
    return live_codes.live_code(member.code, member.live_secret, (utcnow() - ago).timestamp())


def login(client):
    assert post_login(client, "cafe", "caja1@cafe.example", PASSWORD).status_code == 302


def test_a_scanned_live_code_opens_the_customer(client, shop, ana):
    login(client)
    answer = client.get("/t/cafe/panel/loyalty/", query_string={"q": live(ana)})
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith(f"/t/cafe/panel/loyalty/{ana.code}")


def test_a_photo_of_the_qr_says_it_is_out_of_date(client, shop, ana):
    login(client)
    answer = client.get(
        "/t/cafe/panel/loyalty/", query_string={"q": live(ana, timedelta(minutes=2))}
    )
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/panel/loyalty/")
    text = page(client, "/t/cafe/panel/loyalty/")
    assert (
        "error",
        "Este código QR ya venció: pide al cliente que muestre su tarjeta otra vez.",
    ) in flashes(text)


def test_another_merchants_live_code_finds_nobody(client, shop, db, make_tenant, make_member):
    other = make_tenant(slug="panaderia", name="Panadería")
    eva = with_secret(db, other, make_member(other, "eva@mail.example", first_name="Eva"))
    login(client)
    text = page(client, f"/t/cafe/panel/loyalty/?q={live(eva)}")
    assert "Eva" not in text and eva.code not in text.replace(live(eva), "")
    assert client.get(f"/t/cafe/panel/loyalty/{eva.code}").status_code == 404


def redemptions(db, shop):
    with db(shop) as session:
        return session.scalar(select(func.count()).select_from(Redemption))


def test_where_required_only_a_scanned_live_qr_redeems(client, shop, db, ana):
    with db(shop) as session:
        update_program(session, {"live_code_for_redemptions": True})
        session.commit()
    login(client)
    url = f"/t/cafe/panel/loyalty/{ana.code}"
    fields = {**form_of(page(client, url), f"{url}/redeem"), "reward": str(shop.reward_id)}
    answer = client.post(f"{url}/redeem", data=fields)  # the typed static code
    assert answer.status_code == 403
    text = html.unescape(answer.get_data(as_text=True))
    assert "solo con el QR en vivo de la app del cliente" in text
    assert redemptions(db, shop) == 0
    # the live QR scanned: the same page now redeems
    assert client.get("/t/cafe/panel/loyalty/", query_string={"q": live(ana)}).status_code == 302
    fields = {**form_of(page(client, url), f"{url}/redeem"), "reward": str(shop.reward_id)}
    assert client.post(f"{url}/redeem", data=fields).status_code == 302
    assert redemptions(db, shop) == 1
    with db(shop) as session:
        assert session.get(Membership, ana.id).balance == 70
