"""Locales: managers add and edit stores with address and city."""

from __future__ import annotations

import html

from sqlalchemy import select

from core.loyalty.locations import Location, create_location
from core.loyalty.staff import Role
from core.testing.weblogin import flashes, login, token


def _locations(db, tenant):
    with db(tenant) as session:
        return session.scalars(select(Location).order_by(Location.id)).all()


def test_create_edit_and_deactivate_a_store(client, make_tenant, db):
    shop = make_tenant()
    login(client, db, shop)
    base = f"/t/{shop.slug}/panel/locations"
    created = client.post(
        f"{base}/new",
        data={
            "csrf_token": token(client, f"{base}/new"),
            "name": "Sede Chapinero",
            "address": "Calle 60 # 9-23",
            "city": "Bogotá",
        },
        follow_redirects=True,
    )
    assert ("success", "Local “Sede Chapinero” creado.") in flashes(created.get_data(as_text=True))
    [place] = _locations(db, shop)
    assert (place.name, place.address, place.city, place.active) == (
        "Sede Chapinero",
        "Calle 60 # 9-23",
        "Bogotá",
        True,
    )
    client.post(
        f"{base}/{place.id}",
        data={
            "csrf_token": token(client, f"{base}/{place.id}"),
            "name": "Sede Chapinero Alto",
            "address": "Calle 63 # 5-10",
            "city": "Bogotá D.C.",
            "active": "y",
        },
    )
    [place] = _locations(db, shop)
    assert (place.name, place.address, place.city) == (
        "Sede Chapinero Alto",
        "Calle 63 # 5-10",
        "Bogotá D.C.",
    )
    listed = client.get(f"{base}/").get_data(as_text=True)
    assert "Sede Chapinero Alto" in listed and "Calle 63 # 5-10" in listed
    client.post(f"{base}/{place.id}/active", data={"csrf_token": token(client, f"{base}/")})
    assert _locations(db, shop)[0].active is False


def test_a_store_needs_a_name(client, make_tenant, db):
    shop = make_tenant()
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/locations/new"
    page = client.post(
        url, data={"csrf_token": token(client, url), "name": "   ", "city": "Cali"}
    ).get_data(as_text=True)
    assert "El nombre es obligatorio." in html.unescape(page)
    assert _locations(db, shop) == []


def test_employees_get_403_and_other_merchants_ids_404(client, make_tenant, db):
    shop, other = make_tenant(), make_tenant()
    with db(other) as session:
        theirs = create_location(session, name="Suyo", city="Medellín").id
        session.commit()
    base = f"/t/{shop.slug}/panel/locations"
    login(client, db, shop, Role.EMPLOYEE)
    for url in (f"{base}/", f"{base}/new"):
        assert client.get(url).status_code == 403
    client.post(
        f"/t/{shop.slug}/logout", data={"csrf_token": token(client, f"/t/{shop.slug}/panel/")}
    )
    login(client, db, shop)
    csrf = token(client, f"{base}/")
    assert client.get(f"{base}/{theirs}").status_code == 404
    assert (
        client.post(f"{base}/{theirs}", data={"csrf_token": csrf, "name": "Mío"}).status_code == 404
    )
    assert client.post(f"{base}/{theirs}/active", data={"csrf_token": csrf}).status_code == 404
    [place] = _locations(db, other)
    assert (place.name, place.active) == ("Suyo", True)
