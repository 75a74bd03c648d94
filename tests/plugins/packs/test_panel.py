"""Packs in the panel, at a spa in Bogotá: "Bono de 5 sesiones de masaje" (90 days) and
"Bono de 3 copas" (no expiry); Caja 1, an employee at the Centro location, serves Ana."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.host.actors import Actor
from core.host.db import clock_at
from core.loyalty.locations import create_location
from core.loyalty.members import Membership
from core.loyalty.staff import Role, create_staff
from core.testing.factories import PASSWORD
from core.testing.weblogin import login, post_login
from plugins.packs import packs
from plugins.packs.models import Pack, PackUse

MASSAGE = {
    "key": "masaje-5",
    "name": "Bono de 5 sesiones de masaje",
    "uses": 5,
    "price": "150000",
    "validity_days": 90,
}
DRINKS = {"key": "copas-3", "name": "Bono de 3 copas", "uses": 3, "price": "45000"}
SOLD_AT = datetime(2026, 6, 1, 20, 0, tzinfo=UTC)  # 15:00 on 1 June in Bogotá
EXPIRES_AT = datetime(2026, 8, 31, 5, 0, tzinfo=UTC)  # usable through 30 August


@pytest.fixture
def shop(make_plan, make_tenant, db, platform):
    make_plan("packs", {"packs"})
    tenant = make_tenant(slug="spa", plan="packs")
    with db(tenant) as session:
        platform.plugins.save_settings(session, "packs", {"types": [MASSAGE, DRINKS]})
        centro = create_location(session, name="Centro")
        session.flush()
        create_staff(
            session,
            email="caja1@spa.example",
            name="Caja 1",
            password=PASSWORD,
            role=Role.EMPLOYEE,
            location_id=centro.id,
        )
        session.commit()
    return tenant


@pytest.fixture
def ana(shop, make_member):
    return make_member(shop, first_name="Ana", last_name="Núñez")


def as_caja1(client, tenant):
    assert post_login(client, tenant.slug, "caja1@spa.example", PASSWORD).status_code == 302


def page_url(tenant, member):
    return f"/t/{tenant.slug}/panel/packs/{member.code}"


def read(client, url):
    answer = client.get(url)
    assert answer.status_code == 200, answer.status_code
    return html.unescape(answer.get_data(as_text=True)).replace("\xa0", " ")


def hidden(text, action):
    """csrf_token and key of the form posting to `action`."""
    start = text.index(f'action="{action}"')
    form = text[start : text.index("</form>", start)]
    found = dict(re.findall(r'name="(csrf_token|key)"[^>]*value="([^"]*)"', form))
    found.update(re.findall(r'id="(csrf_token|key)" name="\1" type="hidden" value="([^"]*)"', form))
    return found


def sold(db, tenant):
    with db(tenant) as session:
        return [(p.type_key, p.uses_left) for p in session.scalars(select(Pack).order_by(Pack.id))]


def use_count(db, tenant):
    with db(tenant) as session:
        return session.scalar(select(func.count()).select_from(PackUse))


def sell_pack(db, tenant, member, kind=DRINKS):
    with clock_at(SOLD_AT), db(tenant) as session:
        pack = packs.sell_pack(
            session, session.get(Membership, member.id), kind["key"], actor=Actor.staff(None)
        )
        session.commit()
        return pack


def test_the_cashiers_page_links_to_the_members_packs_and_shows_usable_ones(client, db, shop, ana):
    sell_pack(db, shop, ana)
    as_caja1(client, shop)
    text = read(client, f"/t/spa/panel/loyalty/{ana.code}")
    assert f'href="{page_url(shop, ana)}"' in text and ">Bonos</a>" in text
    assert "<dt>Bono de 3 copas</dt><dd>3 de 3</dd>" in text


def test_an_employee_sells_a_pack_once_however_often_the_form_is_sent(client, db, shop, ana):
    as_caja1(client, shop)
    url = page_url(shop, ana)
    text = read(client, url)
    assert "Este cliente aún no tiene bonos." in text
    data = {**hidden(text, f"{url}/sell"), "pack_type": "masaje-5"}
    with clock_at(SOLD_AT):
        first = client.post(f"{url}/sell", data=data)
        second = client.post(f"{url}/sell", data=data)
    assert (first.status_code, second.status_code) == (302, 302)
    assert sold(db, shop) == [("masaje-5", 5)]
    with clock_at(SOLD_AT):
        text = read(client, url)
    assert "Bono de 5 sesiones de masaje" in text
    assert "5 de 5 disponibles" in text
    assert "Válido hasta el 30 ago 2026" in text  # 90 days from 1 June, local date


def test_using_a_session_records_who_and_where_once_per_key(client, db, shop, ana):
    pack = sell_pack(db, shop, ana, MASSAGE)
    as_caja1(client, shop)
    url = page_url(shop, ana)
    use_url = f"{url}/{pack.id}/use"
    at = datetime(2026, 6, 3, 22, 30, tzinfo=UTC)  # 17:30 on 3 June in Bogotá
    with clock_at(at):
        data = hidden(read(client, url), use_url)
        answers = [client.post(use_url, data=data) for _ in range(2)]
        assert [a.status_code for a in answers] == [302, 302]
        text = read(client, url)
    assert sold(db, shop) == [("masaje-5", 4)] and use_count(db, shop) == 1
    assert "4 de 5 disponibles" in text
    row = re.search(
        r"<tr><td>([^<]*)</td><td>([^<]*)</td>\s*<td>([^<]*)</td>"
        r'<td class="num">([^<]*)</td></tr>',
        text,
    )
    assert row.groups() == ("3/6/26, 17:30", "Caja 1", "Centro", "4")


def test_a_used_up_pack_is_refused_with_a_clear_message(client, db, shop, ana):
    pack = sell_pack(db, shop, ana, DRINKS)
    as_caja1(client, shop)
    url = page_url(shop, ana)
    use_url = f"{url}/{pack.id}/use"
    for _ in range(3):
        assert client.post(use_url, data=hidden(read(client, url), use_url)).status_code == 302
    text = read(client, url)
    assert "0 de 3 disponibles" in text and "Agotado." in text
    assert f'action="{use_url}"' not in text  # no button for a used-up pack
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]*)"', text).group(1)
    refused = client.post(use_url, data={"csrf_token": token, "key": "panel-late-tap"})
    assert refused.status_code == 409
    assert 'role="alert">A este bono no le quedan usos.</p>' in html.unescape(
        refused.get_data(as_text=True)
    )
    assert sold(db, shop) == [("copas-3", 0)] and use_count(db, shop) == 3


def test_an_expired_pack_is_refused_from_the_local_midnight_after_its_last_day(
    client, db, shop, ana
):
    pack = sell_pack(db, shop, ana, MASSAGE)
    as_caja1(client, shop)
    url = page_url(shop, ana)
    use_url = f"{url}/{pack.id}/use"
    with clock_at(EXPIRES_AT - timedelta(seconds=1)):  # 23:59:59 on 30 August: still valid
        data = hidden(read(client, url), use_url)
        assert client.post(use_url, data=data).status_code == 302
    with clock_at(EXPIRES_AT):
        text = read(client, url)
        assert "Caducó el 30 ago 2026" in text and f'action="{use_url}"' not in text
        refused = client.post(use_url, data={**data, "key": "panel-after-midnight"})
    assert refused.status_code == 409
    assert "Este bono ha caducado." in html.unescape(refused.get_data(as_text=True))
    assert sold(db, shop) == [("masaje-5", 4)]


@pytest.mark.parametrize(
    ("choice", "message"),
    [
        ("", "Elige un bono."),
        ("spa-day", "No hay ningún bono así a la venta."),
    ],
)
def test_selling_without_a_pack_on_sale_is_a_form_error(client, db, shop, ana, choice, message):
    login(client, db, shop)
    url = page_url(shop, ana)
    data = {**hidden(read(client, url), f"{url}/sell"), "pack_type": choice}
    answer = client.post(f"{url}/sell", data=data)
    assert answer.status_code == 422
    assert f'role="alert">{message}</p>' in html.unescape(answer.get_data(as_text=True))
    assert sold(db, shop) == []


def test_other_tenants_members_and_packs_and_tenants_without_packs_answer_404(
    client, db, shop, ana, make_tenant, make_member, make_plan, platform
):
    other = make_tenant(slug="otro", plan="packs")
    with db(other) as session:
        platform.plugins.save_settings(session, "packs", {"types": [DRINKS]})
        session.commit()
    stranger = make_member(other)
    theirs = sell_pack(db, other, stranger)
    as_caja1(client, shop)
    url = page_url(shop, ana)
    data = hidden(read(client, url), f"{url}/sell")
    assert client.get(page_url(shop, stranger)).status_code == 404
    assert (
        client.post(
            f"{page_url(shop, stranger)}/sell", data={**data, "pack_type": "copas-3"}
        ).status_code
        == 404
    )
    assert client.post(f"{url}/{theirs.id}/use", data=data).status_code == 404
    mine = sell_pack(db, shop, make_member(shop))  # this tenant's, but another member's
    assert client.post(f"{url}/{mine.id}/use", data=data).status_code == 404
    assert sold(db, other) == [("copas-3", 3)] and sold(db, shop) == [("copas-3", 3)]

    bare = make_tenant(slug="bare")  # the free plan: no packs
    member = make_member(bare)
    login(client, db, bare)
    assert client.get(page_url(bare, member)).status_code == 404
    assert "/panel/packs/" not in read(client, f"/t/bare/panel/loyalty/{member.code}")
