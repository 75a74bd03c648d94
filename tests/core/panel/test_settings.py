"""Configuración: profile, program and plugins' sections saved together, validated in the
user's language; nothing half-saved; managers only."""

from __future__ import annotations

import html
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.program import get_program, update_program
from core.staff import Role
from tenants.models import Tenant
from tests.core.panel.managing import login, png, token, upload
from tests.core.weblogin import flashes


@pytest.fixture(autouse=True)
def upload_folder(app, tmp_path):
    app.config["PREMIA_UPLOAD_FOLDER"] = str(tmp_path)
    return tmp_path


@pytest.fixture
def shop(make_tenant):
    return make_tenant(plan="white-label", name="Café La Esquina")


def _form(**changes):
    """A complete, valid post of the page for a white-label Colombian café."""
    data = {
        "name": "Café La Esquina", "business_type": "Cafetería", "email": "hola@esquina.co",
        "phone": "+57 601 555 0101", "whatsapp": "+57 300 555 0101",
        "description": "Café de origen en Chapinero", "country": "CO", "currency": "COP",
        "timezone": "America/Bogota", "language": "es",
        "equivalence_points": "1", "equivalence_amount": "1.000", "description_field": "y",
        "welcome_points": "50", "expiry_months": "12",
        "plugin-birthday-enabled": "y", "plugin-birthday-points": "200",
        "plugin-cashback-programs": "[]", "plugin-cashback-point_value": "1",
        "plugin-cashback-max_pay_with_points_percent": "50",
        "plugin-notifications-on_points": "y",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _saved(platform, db, shop):
    with db(shop) as session:
        tenant = session.get(Tenant, shop.id)
        return (tenant, get_program(session), platform.plugins.settings(session, "birthday"),
                platform.plugins.settings(session, "cashback"))


def test_round_trip_of_profile_program_and_plugin_sections(client, shop, db, platform,
                                                           upload_folder):
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/settings/"
    page = client.get(url).get_data(as_text=True)
    for title in ("Perfil del comercio", "Programa de fidelización", 'id="plugin-birthday"',
                  'id="plugin-cashback"', 'id="plugin-notifications"'):
        assert title in page
    # plugins' fields are labelled in the merchant's language, not by their names
    for label in ("Puntos en el cumpleaños", "Valor de un punto", "Niveles (lista JSON)",
                  "Correo antes de que caduquen los puntos"):
        assert label in page
    answer = client.post(url, data={"csrf_token": token(client, url),
                                    **_form(logo=upload(png()))},
                         content_type="multipart/form-data", follow_redirects=True)
    assert ("success", "Configuración guardada.") in flashes(answer.get_data(as_text=True))
    tenant, program, birthday, cashback = _saved(platform, db, shop)
    assert (tenant.business_type, tenant.email, tenant.whatsapp, tenant.timezone) == (
        "Cafetería", "hola@esquina.co", "+57 300 555 0101", "America/Bogota")
    assert (upload_folder / str(shop.id) / tenant.logo).read_bytes() == png()
    assert program == {"points_per_amount": {"amount": Decimal("1000"), "points": 1},
                       "description_field": True, "welcome_points": 50, "expiry_months": 12,
                       "customer_redemption_requests": False}
    assert birthday == {"enabled": True, "points": 200}
    assert cashback["max_pay_with_points_percent"] == Decimal("50")
    with db(shop) as session:
        assert platform.plugins.settings(session, "notifications")["on_redemption"] is False
    # What was saved is what the page shows next time, in the merchant's format.
    again = html.unescape(client.get(url).get_data(as_text=True))
    assert 'name="equivalence_amount" type="text" value="1.000"' in again
    assert 'name="plugin-birthday-points" value="200"' in again


def test_one_bad_field_anywhere_saves_nothing(client, shop, db, platform):
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/settings/"
    client.post(url, data={"csrf_token": token(client, url), **_form()})
    before = _saved(platform, db, shop)
    refused = client.post(url, data={"csrf_token": token(client, url), **_form(
        name="Otro nombre", welcome_points="80", currency="XYZ",
        timezone="America/Atlantis", **{"plugin-birthday-points": "0"})})
    page = html.unescape(refused.get_data(as_text=True))
    assert "Código de moneda desconocido." in page
    assert "Zona horaria desconocida." in page
    assert "Escribe un valor de 1 a 1.000.000.000." in page  # the birthday points, in Spanish
    assert 'value="Otro nombre"' in page  # what was typed is kept on the form
    after = _saved(platform, db, shop)
    assert (after[0].name, after[0].currency, after[1], after[2]) == (
        before[0].name, before[0].currency, before[1], before[2])


@pytest.mark.parametrize(("changes", "message"), [
    ({"equivalence_amount": "mil"}, "Escribe un monto mayor que cero, p. ej. 1.000."),
    ({"equivalence_amount": ""}, "Completa los puntos y el monto, o ninguno de los dos."),
    ({"expiry_months": "121"}, "Escribe de 1 a 120 meses."),
    ({"welcome_points": "cinco"}, "Escribe un número entero."),
    ({"language": "fr"}, "Idioma no disponible."),
    ({"email": "sin-arroba"}, "Ingresa un correo electrónico válido."),
    ({"plugin-cashback-programs": "[{"}, "Esto no es JSON válido."),
    ({"plugin-cashback-programs": '[{"name": "BF", "percent": "150"}]'},
     "1 › percent: Un porcentaje es mayor que 0 y como máximo 100."),
    ({"plugin-cashback-point_value": "1.5"}, "Escribe un número, p. ej. 1.234,5."),
    ({"logo": (upload(b"not an image at all"))}, "Sube una imagen PNG, JPEG, GIF o WebP."),
])
def test_each_refusal_reads_in_spanish_under_its_field(client, shop, db, platform, changes,
                                                      message, upload_folder):
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/settings/"
    before = _saved(platform, db, shop)
    refused = client.post(url, data={"csrf_token": token(client, url), **_form(**changes)},
                          content_type="multipart/form-data")
    assert refused.status_code == 200
    assert message in html.unescape(refused.get_data(as_text=True))
    after = _saved(platform, db, shop)
    assert (after[0].name, after[0].logo, after[1], after[2], after[3]) == (
        before[0].name, before[0].logo, before[1], before[2], before[3])
    assert not any(upload_folder.rglob("*.*"))


def test_empty_equivalence_and_expiry_switch_them_off(client, shop, db, platform):
    with db(shop) as session:
        update_program(session, {"points_per_amount": {"amount": "500", "points": 2},
                                 "expiry_months": 6})
        session.commit()
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/settings/"
    client.post(url, data={"csrf_token": token(client, url), **_form(
        equivalence_points="", equivalence_amount="", expiry_months="",
        welcome_points="", customer_redemption_requests="y")})
    program = _saved(platform, db, shop)[1]
    assert (program["points_per_amount"], program["expiry_months"], program["welcome_points"],
            program["customer_redemption_requests"]) == (None, None, 0, True)


def test_english_merchant_sees_english_and_writes_english_numbers(client, make_tenant, db,
                                                                  platform):
    shop = make_tenant(plan="white-label", language="en", country="US", currency="USD",
                       timezone="America/New_York")
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/settings/"
    page = client.get(url).get_data(as_text=True)
    assert "Business profile" in page and "Birthday" in page
    client.post(url, data={"csrf_token": token(client, url), **_form(
        country="US", currency="USD", timezone="America/New_York", language="en",
        equivalence_amount="2.50", equivalence_points="3",
        **{"plugin-cashback-point_value": "0.05"})})
    _tenant, program, _birthday, cashback = _saved(platform, db, shop)
    assert program["points_per_amount"] == {"amount": Decimal("2.50"), "points": 3}
    assert cashback["point_value"] == Decimal("0.05")


@pytest.mark.parametrize(("language", "saved"), [
    ("en", "Settings saved."), ("pt_BR", "Configurações salvas."),
])
def test_switching_language_the_first_flash_reads_in_the_new_one(client, shop, db, language,
                                                                 saved):
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/settings/"
    answer = client.post(url, data={"csrf_token": token(client, url), **_form(language=language)},
                         follow_redirects=True)
    assert flashes(answer.get_data(as_text=True)) == [("success", saved)]


def test_plugins_off_or_outside_the_plan_have_no_section(client, make_tenant, db, platform):
    shop = make_tenant()  # free plan: no birthday, no cashback
    with db(shop) as session:
        platform.plugins.switch(session, session.get(Tenant, shop.id), "notifications", False)
        session.commit()
    login(client, db, shop)
    page = client.get(f"/t/{shop.slug}/panel/settings/").get_data(as_text=True)
    assert "Perfil del comercio" in page
    assert 'id="plugin-' not in page


def test_employees_get_403(client, shop, db):
    login(client, db, shop, Role.EMPLOYEE)
    assert client.get(f"/t/{shop.slug}/panel/settings/").status_code == 403
    assert client.post(f"/t/{shop.slug}/panel/settings/", data=_form()).status_code in (400, 403)
    with db(shop) as session:
        assert session.scalar(select(Tenant.business_type).where(Tenant.id == shop.id)) is None


def test_a_schema_draws_its_inputs_by_type_with_the_plugins_labels(app):
    import marshmallow as ma
    from flask_babel import force_locale
    from flask_babel import lazy_gettext as _l
    from werkzeug.datastructures import MultiDict

    from core.panel import schemaform

    class Schema(ma.Schema):
        bonus_points = ma.fields.Integer(load_default=5, metadata={"label": _l("Points")})
        starts_on = ma.fields.Date(allow_none=True, load_default=None)
        rate = ma.fields.Decimal(as_string=True, load_default=None, allow_none=True)
        on = ma.fields.Boolean(load_default=True)
        tags = ma.fields.List(ma.fields.String(), load_default=list)

    with app.test_request_context(), force_locale("es"):
        shown = schemaform.inputs(Schema(), Schema().load({"rate": "1234.5", "tags": ["a"]}),
                                  "p-")
        assert [(i.label, i.kind, i.value) for i in shown] == [
            ("Puntos", "integer", "5"), ("Starts on", "date", ""), ("Rate", "decimal", "1234,5"),
            ("On", "boolean", True), ("Tags", "json", '[\n  "a"\n]')]
        data, errors = schemaform.read(Schema(), MultiDict(
            {"p-bonus_points": "1.000", "p-starts_on": "", "p-rate": "2,5", "p-tags": "[]"}),
            "p-")
        assert (data, errors) == ({"bonus_points": 1000, "starts_on": None,
                                   "rate": Decimal("2.5"), "on": False, "tags": []}, {})
