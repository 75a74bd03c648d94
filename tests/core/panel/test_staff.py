"""Empleados: managers add, edit and deactivate staff; admins never touch owners; the last
active owner stays; a deactivated user is logged out and cannot log in."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import select

from core.host.errors import Conflict, Forbidden
from core.loyalty.locations import create_location
from core.loyalty.staff import Role, StaffUser, create_staff, deactivate_staff, update_staff
from core.testing.factories import PASSWORD
from core.testing.weblogin import flashes, login, owner_email, post_login, token


def _staff(db, tenant):
    with db(tenant) as session:
        return {u.email: u for u in session.scalars(select(StaffUser))}


def test_owner_adds_an_employee_at_a_location_who_can_then_log_in(client, make_tenant, db, app):
    shop = make_tenant()
    with db(shop) as session:
        centro = create_location(session, name="Centro", city="Bogotá").id
        session.commit()
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/staff/new"
    answer = client.post(
        url,
        data={
            "csrf_token": token(client, url),
            "name": "Lucía Caja",
            "email": "Lucia@Shop.example",
            "role": "employee",
            "location_id": str(centro),
            "password": "caja-segura-1",
        },
        follow_redirects=True,
    )
    assert ("success", "Lucía Caja ya puede iniciar sesión.") in flashes(
        answer.get_data(as_text=True)
    )
    lucia = _staff(db, shop)["lucia@shop.example"]
    assert (lucia.name, lucia.role, lucia.location_id, lucia.active) == (
        "Lucía Caja",
        Role.EMPLOYEE,
        centro,
        True,
    )
    other = app.test_client()
    assert post_login(other, shop.slug, "lucia@shop.example", "caja-segura-1").status_code == 302


def test_bad_input_on_the_form_and_nothing_saved(client, make_tenant, db):
    shop = make_tenant()
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/staff/new"
    page = html.unescape(
        client.post(
            url,
            data={
                "csrf_token": token(client, url),
                "name": "Pedro",
                "email": "no-es-correo",
                "role": "employee",
                "location_id": "",
                "password": "corta",
            },
        ).get_data(as_text=True)
    )
    assert "Ingresa un correo electrónico válido." in page
    taken = html.unescape(
        client.post(
            url,
            data={
                "csrf_token": token(client, url),
                "name": "Pedro",
                "email": owner_email(db, shop),
                "role": "employee",
                "location_id": "",
                "password": "larga-y-segura",
            },
        ).get_data(as_text=True)
    )
    assert "Ya hay un miembro del equipo con este correo electrónico." in taken
    short = html.unescape(
        client.post(
            url,
            data={
                "csrf_token": token(client, url),
                "name": "Pedro",
                "email": "pedro@shop.example",
                "role": "employee",
                "location_id": "",
                "password": "corta",
            },
        ).get_data(as_text=True)
    )
    assert "La contraseña debe tener al menos" in short
    assert set(_staff(db, shop)) == {owner_email(db, shop)}


def test_an_admin_may_neither_create_nor_edit_an_owner(client, make_tenant, db):
    shop = make_tenant()
    login(client, db, shop, Role.ADMIN)
    url = f"/t/{shop.slug}/panel/staff/new"
    page = client.get(url).get_data(as_text=True)
    assert 'value="owner"' not in page  # not even offered
    client.post(
        url,
        data={
            "csrf_token": token(client, url),
            "name": "Jefa",
            "email": "jefa@shop.example",
            "role": "owner",
            "location_id": "",
            "password": "larga-y-segura",
        },
    )
    assert "jefa@shop.example" not in _staff(db, shop)
    owner = _staff(db, shop)[owner_email(db, shop)]
    assert client.get(f"/t/{shop.slug}/panel/staff/{owner.id}").status_code == 403
    assert (
        client.post(
            f"/t/{shop.slug}/panel/staff/{owner.id}",
            data={
                "csrf_token": token(client, url),
                "name": "X",
                "email": owner.email,
                "role": "employee",
                "location_id": "",
                "active": "y",
            },
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/t/{shop.slug}/panel/staff/{owner.id}/active", data={"csrf_token": token(client, url)}
        ).status_code
        == 403
    )
    after = _staff(db, shop)[owner.email]
    assert (after.role, after.active, after.name) == (Role.OWNER, True, owner.name)


def test_the_rules_hold_in_the_service_too(make_tenant, db):
    shop = make_tenant()
    with db(shop) as session:
        owner = session.scalar(select(StaffUser).where(StaffUser.role == Role.OWNER))
        admin = create_staff(
            session, email="a@shop.example", name="A", password=PASSWORD, role=Role.ADMIN
        )
        employee = create_staff(session, email="e@shop.example", name="E", password=PASSWORD)
        with pytest.raises(Forbidden):
            create_staff(
                session,
                email="o2@shop.example",
                name="O2",
                password=PASSWORD,
                role=Role.OWNER,
                by=admin,
            )
        with pytest.raises(Forbidden):
            update_staff(session, employee, by=admin, role=Role.OWNER)
        with pytest.raises(Forbidden):
            deactivate_staff(session, owner, by=admin)
        with pytest.raises(Forbidden):
            deactivate_staff(session, admin, by=employee)
        with pytest.raises(Conflict):  # the last active owner
            deactivate_staff(session, owner, by=owner)
        with pytest.raises(Conflict):
            update_staff(session, owner, by=owner, role=Role.ADMIN)
        second = create_staff(
            session,
            email="o2@shop.example",
            name="O2",
            password=PASSWORD,
            role=Role.OWNER,
            by=owner,
        )
        deactivate_staff(session, owner, by=second)  # another owner remains: allowed
        with pytest.raises(Conflict):
            deactivate_staff(session, second, by=second)
        session.rollback()


def test_the_last_owner_cannot_be_deactivated_from_the_panel(client, make_tenant, db):
    shop = make_tenant()
    login(client, db, shop)
    owner = _staff(db, shop)[owner_email(db, shop)]
    url = f"/t/{shop.slug}/panel/staff/{owner.id}"
    page = html.unescape(
        client.post(
            url,
            data={
                "csrf_token": token(client, url),
                "name": owner.name,
                "email": owner.email,
                "role": "owner",
                "location_id": "",
            },
        ).get_data(as_text=True)
    )  # "active" unticked
    assert "El comercio necesita al menos un dueño activo." in page
    demoted = html.unescape(
        client.post(
            url,
            data={
                "csrf_token": token(client, url),
                "name": owner.name,
                "email": owner.email,
                "role": "admin",
                "location_id": "",
                "active": "y",
            },
        ).get_data(as_text=True)
    )
    assert "El comercio necesita al menos un dueño activo." in demoted
    after = _staff(db, shop)[owner.email]
    assert (after.role, after.active) == (Role.OWNER, True)


def test_a_deactivated_employee_is_logged_out_and_cannot_log_in(client, make_tenant, db, app):
    shop = make_tenant()
    with db(shop) as session:
        cajero = create_staff(
            session, email="cajero@shop.example", name="Cajero", password=PASSWORD
        ).id
        session.commit()
    employee = app.test_client()
    assert post_login(employee, shop.slug, "cajero@shop.example", PASSWORD).status_code == 302
    assert employee.get(f"/t/{shop.slug}/panel/").status_code == 200
    login(client, db, shop)
    index = f"/t/{shop.slug}/panel/staff/"
    answer = client.post(
        f"/t/{shop.slug}/panel/staff/{cajero}/active",
        data={"csrf_token": token(client, index)},
        follow_redirects=True,
    )
    assert ("success", "Cajero fue desactivado y ya no puede iniciar sesión.") in flashes(
        answer.get_data(as_text=True)
    )
    assert employee.get(f"/t/{shop.slug}/panel/").status_code == 302  # to the login
    assert post_login(employee, shop.slug, "cajero@shop.example", PASSWORD).status_code == 401


def test_edit_changes_name_role_location_and_password(client, make_tenant, db, app):
    shop = make_tenant()
    with db(shop) as session:
        norte = create_location(session, name="Norte").id
        cajero = create_staff(
            session, email="cajero@shop.example", name="Cajero", password=PASSWORD
        ).id
        session.commit()
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/staff/{cajero}"
    client.post(
        url,
        data={
            "csrf_token": token(client, url),
            "name": "Cajera Ana",
            "email": "ana@shop.example",
            "role": "admin",
            "location_id": str(norte),
            "password": "nueva-clave-22",
            "active": "y",
        },
    )
    ana = _staff(db, shop)["ana@shop.example"]
    assert (ana.name, ana.role, ana.location_id) == ("Cajera Ana", Role.ADMIN, norte)
    page = client.get(url).get_data(as_text=True)
    assert f'<option selected value="{norte}">Norte</option>' in page
    assert '<option selected value="admin">Administrador</option>' in page
    assert (
        post_login(app.test_client(), shop.slug, "ana@shop.example", "nueva-clave-22").status_code
        == 302
    )


def test_employees_get_403(client, make_tenant, db):
    shop = make_tenant()
    owner = _staff(db, shop)[owner_email(db, shop)]
    login(client, db, shop, Role.EMPLOYEE)
    base = f"/t/{shop.slug}/panel/staff"
    for url in (f"{base}/", f"{base}/new", f"{base}/{owner.id}"):
        assert client.get(url).status_code == 403


def test_another_merchants_staff_and_locations_are_out_of_reach(client, make_tenant, db):
    shop, other = make_tenant(), make_tenant()
    with db(other) as session:
        theirs = create_staff(
            session, email="suyo@other.example", name="Suyo", password=PASSWORD
        ).id
        their_place = create_location(session, name="Lejos").id
        session.commit()
    with db(shop) as session:
        mine = create_staff(session, email="mio@shop.example", name="Mío", password=PASSWORD).id
        session.commit()
    login(client, db, shop)
    base = f"/t/{shop.slug}/panel/staff"
    csrf = token(client, f"{base}/")
    assert client.get(f"{base}/{theirs}").status_code == 404
    assert (
        client.post(
            f"{base}/{theirs}",
            data={
                "csrf_token": csrf,
                "name": "X",
                "email": "x@x.example",
                "role": "employee",
                "location_id": "",
            },
        ).status_code
        == 404
    )
    assert client.post(f"{base}/{theirs}/active", data={"csrf_token": csrf}).status_code == 404
    page = html.unescape(
        client.post(
            f"{base}/{mine}",
            data={
                "csrf_token": csrf,
                "name": "Mío",
                "email": "mio@shop.example",
                "role": "employee",
                "location_id": str(their_place),
                "active": "y",
            },
        ).get_data(as_text=True)
    )
    assert "Local desconocido." in page
    assert _staff(db, shop)["mio@shop.example"].location_id is None
    suyo = _staff(db, other)["suyo@other.example"]
    assert (suyo.name, suyo.active) == ("Suyo", True)
