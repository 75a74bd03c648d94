"""The shared app's home: a card per merchant with its name, logo, balance and the
points that expire soon, each linking to the merchant's pages; as many statements
for 20 memberships as for one."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

from sqlalchemy import event

from core.host.actors import Actor
from core.host.db import clock_at, platform_session
from core.loyalty import ledger
from core.loyalty.members import Customer, Membership
from core.loyalty.program import update_program
from core.testing.weblogin import sign_in_customer
from tenants.models import Tenant

STAFF = Actor.staff(None)
NOW = datetime(2026, 12, 21, 15, tzinfo=UTC)
LOGO = "0123456789abcdef0123456789abcdef.png"


def read(client, url="/app/"):
    with clock_at(NOW):
        answer = client.get(url)
    assert answer.status_code == 200, answer.status_code
    return html.unescape(answer.get_data(as_text=True)).replace("\xa0", " ")


def cards(page):
    """Each card's text (tags dropped), keyed by the link it opens."""
    return {
        href: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).strip()
        for href, body in re.findall(
            r'<a class="app-card-link" href="([^"]+)">(.*?)</a>', page, re.S
        )
    }


def shop(make_tenant, db, **fields):
    """A merchant whose points expire a month after they are earned."""
    tenant = make_tenant(**fields)
    with db(tenant) as session:
        update_program(session, {"expiry_months": 1})
        session.commit()
    return tenant


def earn_at(db, tenant, member, points, moment):
    with clock_at(moment), db(tenant) as session:
        ledger.earn(session, session.get(Membership, member.id), points=points, actor=STAFF)
        session.commit()


def test_a_card_per_merchant_with_logo_balance_and_points_expiring_soon(
    client, app, db, platform, make_tenant, make_member
):
    cafe = shop(make_tenant, db, slug="cafe", name="Café Central")
    tokyo = shop(make_tenant, db, slug="sushi", name="Sushi Ya", timezone="Asia/Tokyo")
    with platform_session(platform.sessions) as session:
        session.get(Tenant, cafe.id).logo = LOGO
        session.commit()
    ana_cafe = make_member(cafe, "ana@mail.example")
    ana_sushi = make_member(tokyo, "ana@mail.example")
    make_member(cafe, "eva@mail.example")
    earn_at(db, cafe, ana_cafe, 120, datetime(2026, 12, 1, 5, tzinfo=UTC))  # until 1 Jan there
    earn_at(db, cafe, ana_cafe, 30, datetime(2026, 12, 20, 15, tzinfo=UTC))  # 20 Jan: not soon
    # In Tokyo, 1 Jan 2027 00:00 is 31 Dec 15:00 UTC: the next run takes it.
    earn_at(db, tokyo, ana_sushi, 80, datetime(2026, 11, 30, 15, tzinfo=UTC))
    sign_in_customer(client, app, ana_cafe)

    page = read(client)

    found = cards(page)
    assert list(found) == ["/t/cafe/app/", "/t/sushi/app/"]
    assert found["/t/cafe/app/"] == "Café Central 120 puntos vencen el 1 de enero 150 puntos"
    assert found["/t/sushi/app/"] == "Sushi Ya 80 puntos vencen el 31 de diciembre 80 puntos"
    assert f'src="/t/cafe/uploads/{LOGO}"' in page
    assert page.count('class="merchant-logo"') == 1


def test_no_membership_yet(client, app, platform):
    with platform_session(platform.sessions) as session:
        person = Customer(email="solo@mail.example")
        session.add(person)
        session.commit()
        sign_in_customer(client, app, person)
    page = read(client)
    assert "Aún no eres cliente de ningún programa." in page and cards(page) == {}


def count_statements(platform, client):
    seen = []

    def before(_conn, _cursor, statement, *_args):
        seen.append(statement)

    read(client)  # warm: the session's first use, the process's caches
    event.listen(platform.engine, "before_cursor_execute", before)
    try:
        page = read(client)
    finally:
        event.remove(platform.engine, "before_cursor_execute", before)
    return len(seen), page


def test_the_home_costs_as_many_statements_for_20_memberships_as_for_one(
    client, app, db, platform, make_tenant, make_member
):
    first = shop(make_tenant, db)
    ana = make_member(first, "ana@mail.example")
    earn_at(db, first, ana, 10, datetime(2026, 12, 1, 5, tzinfo=UTC))
    sign_in_customer(client, app, ana)
    one, page = count_statements(platform, client)
    assert len(cards(page)) == 1 and "vencen" in page

    for n in range(19):
        tenant = shop(make_tenant, db)
        earn_at(db, tenant, make_member(tenant, "ana@mail.example"), 10 + n, NOW)
    twenty, page = count_statements(platform, client)

    assert len(cards(page)) == 20
    assert twenty == one
    # 5 today: the session, the account, the memberships with their merchants, the
    # merchants' plans (loaded with them, one statement for all), the lots.
    assert one <= 7


def test_a_suspended_merchants_card_is_not_shown(
    client, app, db, platform, make_tenant, make_member
):
    cafe = shop(make_tenant, db, slug="cafe", name="Café Central")
    bar = shop(make_tenant, db, slug="bar", name="Bar Luna")
    ana = make_member(cafe, "ana@mail.example")
    make_member(bar, "ana@mail.example")
    with platform_session(platform.sessions) as session:
        session.get(Tenant, bar.id).suspended_at = NOW
        session.commit()
    sign_in_customer(client, app, ana)
    assert list(cards(read(client))) == ["/t/cafe/app/"]
