"""Configuración: profile, program and plugins' sections saved together, validated in the
user's language; nothing half-saved; managers only."""

from __future__ import annotations

import html
import re
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from core.loyalty.program import get_program, update_program
from core.loyalty.staff import Role
from core.testing.weblogin import flashes, login, token
from tenants.models import Tenant
from tests.core.panel.managing import png, upload


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
        "name": "Café La Esquina",
        "business_type": "Cafetería",
        "email": "hola@esquina.co",
        "phone": "+57 601 555 0101",
        "whatsapp": "+57 300 555 0101",
        "description": "Café de origen en Chapinero",
        "country": "CO",
        "currency": "COP",
        "timezone": "America/Bogota",
        "language": "es",
        "equivalence_points": "1",
        "equivalence_amount": "1.000",
        "description_field": "y",
        "welcome_points": "50",
        "expiry_months": "12",
        "large_grant_points": "5000",
        "plugin-birthday-enabled": "y",
        "plugin-birthday-points": "200",
        "plugin-cashback-programs": "",
        "plugin-cashback-point_value": "1",
        "plugin-cashback-max_pay_with_points_percent": "50",
        "plugin-notifications-on_points": "y",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _saved(platform, db, shop):
    with db(shop) as session:
        tenant = session.get(Tenant, shop.id)
        return (
            tenant,
            get_program(session),
            platform.plugins.settings(session, "birthday"),
            platform.plugins.settings(session, "cashback"),
        )


def test_round_trip_of_profile_program_and_plugin_sections(
    client, shop, db, platform, upload_folder
):
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/settings/"
    page = client.get(url).get_data(as_text=True)
    for title in (
        "Perfil del comercio",
        "Programa de fidelización",
        'id="plugin-birthday"',
        'id="plugin-cashback"',
        'id="plugin-notifications"',
    ):
        assert title in page
    # plugins' fields are labelled in the merchant's language, not by their names
    for label in (
        "Puntos en el cumpleaños",
        "Valor de un punto",
        "Multiplicador de puntos",
        "Correo antes de que caduquen los puntos",
    ):
        assert label in page
    answer = client.post(
        url,
        data={
            "csrf_token": token(client, url),
            **_form(logo=upload(png()), employees_give_points="y", live_code_for_redemptions="y"),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert ("success", "Configuración guardada.") in flashes(answer.get_data(as_text=True))
    tenant, program, birthday, cashback = _saved(platform, db, shop)
    assert (tenant.business_type, tenant.email, tenant.whatsapp, tenant.timezone) == (
        "Cafetería",
        "hola@esquina.co",
        "+57 300 555 0101",
        "America/Bogota",
    )
    assert (upload_folder / str(shop.id) / tenant.logo).read_bytes() == png()
    assert program == {
        "points_per_amount": {"amount": Decimal("1000"), "points": 1},
        "description_field": True,
        "employees_give_points": True,
        "welcome_points": 50,
        "expiry_months": 12,
        "customer_redemption_requests": False,
        "live_code_for_redemptions": True,
        "large_grant_points": 5000,
    }
    assert birthday == {"enabled": True, "points": 200}
    assert cashback["max_pay_with_points_percent"] == Decimal("50")
    with db(shop) as session:
        assert platform.plugins.settings(session, "notifications")["on_redemption"] is False
    # What was saved is what the page shows next time, in the merchant's format.
    again = html.unescape(client.get(url).get_data(as_text=True))
    assert 'name="equivalence_amount" type="text" value="1.000"' in again
    assert re.search(r'name="large_grant_points"[^>]*value="5000"', again)
    assert re.search(r'<input checked id="employees_give_points"', again)
    assert 'name="plugin-birthday-points" value="200"' in again


def test_one_bad_field_anywhere_saves_nothing(client, shop, db, platform):
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/settings/"
    client.post(url, data={"csrf_token": token(client, url), **_form()})
    before = _saved(platform, db, shop)
    refused = client.post(
        url,
        data={
            "csrf_token": token(client, url),
            **_form(
                name="Otro nombre",
                welcome_points="80",
                currency="XYZ",
                timezone="America/Atlantis",
                **{"plugin-birthday-points": "0"},
            ),
        },
    )
    page = html.unescape(refused.get_data(as_text=True))
    assert "Código de moneda desconocido." in page
    assert "Zona horaria desconocida." in page
    assert "Escribe un valor de 1 a 1.000.000.000." in page  # the birthday points, in Spanish
    assert 'value="Otro nombre"' in page  # what was typed is kept on the form
    after = _saved(platform, db, shop)
    assert (after[0].name, after[0].currency, after[1], after[2]) == (
        before[0].name,
        before[0].currency,
        before[1],
        before[2],
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"equivalence_amount": "mil"}, "Escribe un monto mayor que cero, p. ej. 1.000."),
        ({"equivalence_amount": ""}, "Completa los puntos y el monto, o ninguno de los dos."),
        ({"expiry_months": "121"}, "Escribe de 1 a 120 meses."),
        ({"large_grant_points": "0"}, "Escribe un número entero de puntos, 1 o más."),
        ({"welcome_points": "cinco"}, "Escribe un número entero."),
        ({"language": "fr"}, "Idioma no disponible."),
        ({"email": "sin-arroba"}, "Ingresa un correo electrónico válido."),
        (
            {"plugin-cashback-programs-0-name": "BF", "plugin-cashback-programs-0-percent": "150"},
            "Un porcentaje es mayor que 0 y como máximo 100.",
        ),
        (
            {
                "plugin-cashback-programs-0-name": "BF",
                "plugin-cashback-programs-0-percent": "5",
                "plugin-cashback-programs-0-starts_on": "2026-12-01",
                "plugin-cashback-programs-0-ends_on": "2026-11-01",
            },
            "Un programa no puede terminar antes de empezar.",
        ),
        ({"plugin-cashback-point_value": "1.5"}, "Escribe un número, p. ej. 1.234,5."),
        ({"logo": (upload(b"not an image at all"))}, "Sube una imagen PNG, JPEG, GIF o WebP."),
    ],
)
def test_each_refusal_reads_in_spanish_under_its_field(
    client, shop, db, platform, changes, message, upload_folder
):
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/settings/"
    before = _saved(platform, db, shop)
    refused = client.post(
        url,
        data={"csrf_token": token(client, url), **_form(**changes)},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 200
    assert message in html.unescape(refused.get_data(as_text=True))
    after = _saved(platform, db, shop)
    assert (after[0].name, after[0].logo, after[1], after[2], after[3]) == (
        before[0].name,
        before[0].logo,
        before[1],
        before[2],
        before[3],
    )
    assert not any(upload_folder.rglob("*.*"))


def test_empty_equivalence_and_expiry_switch_them_off(client, shop, db, platform):
    with db(shop) as session:
        update_program(
            session, {"points_per_amount": {"amount": "500", "points": 2}, "expiry_months": 6}
        )
        session.commit()
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/settings/"
    client.post(
        url,
        data={
            "csrf_token": token(client, url),
            **_form(
                equivalence_points="",
                equivalence_amount="",
                expiry_months="",
                welcome_points="",
                customer_redemption_requests="y",
                large_grant_points="",
            ),
        },
    )
    program = _saved(platform, db, shop)[1]
    assert (
        program["points_per_amount"],
        program["expiry_months"],
        program["welcome_points"],
        program["customer_redemption_requests"],
        program["large_grant_points"],
    ) == (None, None, 0, True, None)


def test_english_merchant_sees_english_and_writes_english_numbers(
    client, make_tenant, db, platform
):
    shop = make_tenant(
        plan="white-label", language="en", country="US", currency="USD", timezone="America/New_York"
    )
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/settings/"
    page = client.get(url).get_data(as_text=True)
    assert "Business profile" in page and "Birthday" in page
    client.post(
        url,
        data={
            "csrf_token": token(client, url),
            **_form(
                country="US",
                currency="USD",
                timezone="America/New_York",
                language="en",
                equivalence_amount="2.50",
                equivalence_points="3",
                **{"plugin-cashback-point_value": "0.05"},
            ),
        },
    )
    _tenant, program, _birthday, cashback = _saved(platform, db, shop)
    assert program["points_per_amount"] == {"amount": Decimal("2.50"), "points": 3}
    assert cashback["point_value"] == Decimal("0.05")


@pytest.mark.parametrize(
    ("language", "saved"),
    [
        ("en", "Settings saved."),
        ("pt_BR", "Configurações salvas."),
    ],
)
def test_switching_language_the_first_flash_reads_in_the_new_one(client, shop, db, language, saved):
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/settings/"
    answer = client.post(
        url,
        data={"csrf_token": token(client, url), **_form(language=language)},
        follow_redirects=True,
    )
    assert flashes(answer.get_data(as_text=True)) == [("success", saved)]


def test_plugins_off_or_outside_the_plan_have_no_section(client, make_tenant, db, platform):
    shop = make_tenant()  # free plan: no birthday, no cashback
    with db(shop) as session:
        for plugin in ("notifications", "referrals", "nps"):
            platform.plugins.switch(session, session.get(Tenant, shop.id), plugin, False)
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


# --- plugins' settings as real forms ----------------------------------------------------


def _rows(name, *rows):
    """A list's fields as the page posts them: its marker, then each row by index."""
    data = {f"plugin-{name}": ""}
    for index, row in enumerate(rows):
        data.update({f"plugin-{name}-{index}-{key}": value for key, value in row.items()})
    return data


def _plugins(platform, db, shop):
    with db(shop) as session:
        return {
            name: platform.plugins.settings(session, name)
            for name in ("tiers", "cashback", "packs", "punchcards")
        }


def test_each_plugins_rows_are_saved_through_the_drawn_form(client, shop, db, platform):
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/settings/"
    page = html.unescape(client.get(url).get_data(as_text=True))
    for add in ("Añadir nivel", "Añadir programa", "Añadir tipo de bono", "Añadir tarjeta"):
        assert add in page
    answer = client.post(
        url,
        follow_redirects=True,
        data={
            "csrf_token": token(client, url),
            **_form(),
            **_rows(
                "tiers-tiers",
                {"code": "", "name": "Plata", "multiplier": "1", "threshold": "0"},
                {"code": "", "name": "Oro", "multiplier": "1,5", "threshold": "500.000"},
                {"code": "", "name": "", "multiplier": "", "threshold": ""},
            ),  # the spare row
            "plugin-tiers-period": "rolling",
            "plugin-tiers-rolling_days": "60",
            "plugin-tiers-downgrade": "never",
            **_rows(
                "cashback-programs",
                {
                    "name": "Black Friday",
                    "percent": "5",
                    "starts_on": "2026-11-27",
                    "ends_on": "2026-11-30",
                    "min_purchase": "20.000",
                    "savings_threshold": "",
                    "active": "y",
                },
            ),
            **_rows(
                "packs-types",
                {
                    "key": "",
                    "name": "Bono de 5 masajes",
                    "uses": "5",
                    "price": "150.000",
                    "validity_days": "90",
                    "active": "y",
                },
                {"key": "", "name": "Bono café", "uses": "10", "price": "", "validity_days": ""},
            ),
            **_rows(
                "punchcards-cards",
                {
                    "key": "",
                    "name": "Café",
                    "sku": "",
                    "product_group": "cafe",
                    "size": "10",
                    "prize": "Una tostada",
                    "active": "y",
                },
            ),
        },
    )
    assert ("success", "Configuración guardada.") in flashes(answer.get_data(as_text=True))
    saved = _plugins(platform, db, shop)
    assert saved["tiers"] == {
        "tiers": [
            {
                "code": "plata",
                "name": "Plata",
                "multiplier": Decimal("1"),
                "threshold": Decimal("0"),
            },
            {
                "code": "oro",
                "name": "Oro",
                "multiplier": Decimal("1.5"),
                "threshold": Decimal("500000"),
            },
        ],
        "period": "rolling",
        "rolling_days": 60,
        "downgrade": "never",
    }
    assert saved["cashback"]["programs"] == [
        {
            "name": "Black Friday",
            "percent": Decimal("5"),
            "starts_on": date(2026, 11, 27),
            "ends_on": date(2026, 11, 30),
            "min_purchase": Decimal("20000"),
            "savings_threshold": Decimal("0"),
            "active": True,
        }
    ]
    assert saved["packs"]["types"] == [
        {
            "key": "bono-de-5-masajes",
            "name": "Bono de 5 masajes",
            "uses": 5,
            "price": Decimal("150000.00"),
            "validity_days": 90,
            "active": True,
        },
        {
            "key": "bono-cafe",
            "name": "Bono café",
            "uses": 10,
            "price": None,
            "validity_days": None,
            "active": False,
        },
    ]
    assert saved["punchcards"]["cards"] == [
        {
            "key": "cafe",
            "name": "Café",
            "sku": None,
            "product_group": "cafe",
            "size": 10,
            "prize": "Una tostada",
            "active": True,
        }
    ]

    # Shown again as rows in the merchant's formats, each with its identifier kept aside.
    again = html.unescape(client.get(url).get_data(as_text=True))
    assert 'name="plugin-tiers-tiers-1-multiplier" value="1,5"' in again
    assert 'name="plugin-tiers-tiers-1-code" value="oro"' in again
    assert '<option value="never" selected>' in again

    # A tier renamed keeps its code; one removed is gone; one added gets a code of its own.
    client.post(
        url,
        data={
            "csrf_token": token(client, url),
            **_form(),
            **_rows(
                "tiers-tiers",
                {"code": "oro", "name": "Oro clásico", "multiplier": "2", "threshold": "0"},
                {"code": "", "name": "Plata", "multiplier": "1,2", "threshold": "100.000"},
            ),
        },
    )
    tiers = _plugins(platform, db, shop)["tiers"]["tiers"]
    assert [(t["code"], t["name"]) for t in tiers] == [("oro", "Oro clásico"), ("plata", "Plata")]


def test_without_javascript_the_add_and_remove_buttons_redraw_without_saving(
    client, shop, db, platform
):
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/settings/"
    with db(shop) as session:
        platform.plugins.save_settings(
            session,
            "punchcards",
            {
                "cards": [
                    {
                        "key": "cafe",
                        "name": "Café",
                        "product_group": "cafe",
                        "size": 10,
                        "prize": "Una tostada",
                    }
                ]
            },
        )
        session.commit()
    before = _plugins(platform, db, shop)
    posted = {
        "csrf_token": token(client, url),
        **_form(),
        **_rows(
            "punchcards-cards",
            {
                "key": "cafe",
                "name": "Café",
                "product_group": "cafe",
                "size": "10",
                "prize": "Una tostada",
                "active": "y",
            },
            {"key": "", "name": "Té", "product_group": "te", "size": "8", "prize": "Un té"},
            {"key": "", "name": "", "product_group": "", "size": "", "prize": ""},
        ),
    }
    added = html.unescape(
        client.post(
            url, data={**posted, "schemaform-rows": "add:plugin-punchcards-cards"}
        ).get_data(as_text=True)
    )
    assert 'name="plugin-punchcards-cards-1-name" value="Té"' in added  # what was typed
    assert 'id="plugin-punchcards-cards-2"' in added and 'id="plugin-punchcards-cards-3"' in added
    assert "Configuración guardada." not in added
    removed = html.unescape(
        client.post(
            url, data={**posted, "schemaform-rows": "remove:plugin-punchcards-cards-0"}
        ).get_data(as_text=True)
    )
    assert 'name="plugin-punchcards-cards-0-name" value="Té"' in removed
    assert 'value="Café"' not in removed
    assert _plugins(platform, db, shop) == before  # neither saved anything


def test_refusals_are_summarised_at_the_top_and_shown_in_plain_words_by_their_field(
    client, shop, db, platform
):
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/settings/"
    before = _plugins(platform, db, shop)
    refused = client.post(
        url,
        data={
            "csrf_token": token(client, url),
            **_form(welcome_points="cinco"),
            **_rows(
                "tiers-tiers",
                {"code": "", "name": "Oro", "multiplier": "20", "threshold": "0"},
                {"code": "", "name": "", "multiplier": "1", "threshold": "100"},
            ),
            **_rows(
                "punchcards-cards",
                {
                    "key": "",
                    "name": "Café",
                    "sku": "CAF-1",
                    "product_group": "cafe",
                    "size": "10",
                    "prize": "Una tostada",
                },
                {
                    "key": "",
                    "name": "Té",
                    "sku": "",
                    "product_group": "te",
                    "size": "1",
                    "prize": "Un té",
                },
            ),
        },
    )
    page = html.unescape(refused.get_data(as_text=True))
    summary = page[
        page.index('class="error-summary"') : page.index("</div>", page.index("error-summary"))
    ]
    assert "No se guardó nada: revisa estos campos." in summary
    assert summary.count('href="#welcome_points"') == 1  # one message a field, not two
    for target, where, message in [
        (
            "welcome_points",
            "Programa de fidelización › Puntos de bienvenida",
            "Escribe un número entero.",
        ),
        (
            "plugin-tiers-tiers-0-multiplier",
            "Niveles › Nivel 1 › Multiplicador de puntos",
            "Un multiplicador va de 1 a 10.",
        ),
        ("plugin-tiers-tiers-1-name", "Niveles › Nivel 2 › Nombre", "Este campo es obligatorio."),
        (
            "plugin-punchcards-cards-0-sku",
            "Tarjetas de sellos › Tarjeta 1 › Código de producto",
            "Una tarjeta cuenta un código de producto o un grupo de productos, no ambos.",
        ),
        (
            "plugin-punchcards-cards-1-size",
            "Tarjetas de sellos › Tarjeta 2 › Sellos para el premio",
            "Escribe un valor de 2 a 1.000.",
        ),
    ]:
        assert f'<li><a href="#{target}">{where}</a>: {message}</li>' in summary
        # the message also sits right under its field, the way the summary links to it
        field = page.index(f'id="{target}"')
        assert page.index(message, field) < page.index("</label>", field) + 200
    assert not re.search(r"\b(multiplier|name|size|sku|code|key)\b:", page)  # no "1 › key: …"
    assert _plugins(platform, db, shop) == before


def test_a_refused_equivalence_says_so_once_by_its_field(client, shop, db):
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/settings/"
    page = html.unescape(
        client.post(
            url, data={"csrf_token": token(client, url), **_form(equivalence_points="0")}
        ).get_data(as_text=True)
    )
    assert page.count("Escribe un número entero de puntos, 1 o más.") == 2  # summary + field
    assert "points:" not in page and "Escribe al menos 1." not in page


class _Visible(HTMLParser):
    """The text a reader sees: no attributes, scripts, styles or row templates."""

    def __init__(self):
        super().__init__()
        self.hidden, self.text = 0, []

    def handle_starttag(self, tag, attrs):
        self.hidden += tag in ("script", "style", "template")

    def handle_endtag(self, tag):
        self.hidden -= tag in ("script", "style", "template")

    def handle_data(self, data):
        if not self.hidden:
            self.text.append(data)


def _internal_names(schema) -> set[str]:
    names = set()
    for key, field in schema.fields.items():
        names.add(key)
        for validator in field.validators:
            names.update(getattr(validator, "choices", ()))
        inner = getattr(getattr(field, "inner", None), "schema", None)
        if inner is not None:
            names |= _internal_names(inner)
    return names


def test_no_internal_name_shows_with_every_plugin_on(client, shop, db, platform):
    with db(shop) as session:
        for name, settings in {
            "tiers": {
                "tiers": [
                    {"code": "k-silver", "name": "Plata", "multiplier": "1", "threshold": "0"}
                ],
                "period": "rolling",
                "downgrade": "period_end",
            },
            "cashback": {"programs": [{"name": "Siempre", "percent": "2"}]},
            "packs": {"types": [{"key": "k-massage", "name": "Masajes", "uses": 5}]},
            "punchcards": {
                "cards": [
                    {
                        "key": "k-coffee",
                        "name": "Café",
                        "sku": "CAF",
                        "size": 10,
                        "prize": "Una tostada",
                    }
                ]
            },
        }.items():
            platform.plugins.save_settings(session, name, settings)
        session.commit()
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/settings/"
    internal = {"JSON", "k-silver", "k-massage", "k-coffee"}
    for info in platform.plugins.infos.values():
        if info.settings_schema is not None:
            internal |= _internal_names(info.settings_schema())
    shown = client.get(url).get_data(as_text=True)
    refused = client.post(
        url,
        data={
            "csrf_token": token(client, url),
            **_form(),
            "plugin-tiers-period": "weekly",
            **_rows("packs-types", {"key": "", "name": "", "uses": "3"}),
        },
    )
    for page in (shown, refused.get_data(as_text=True)):
        assert 'id="plugin-tiers"' in page and 'id="plugin-punchcards"' in page
        reader = _Visible()
        reader.feed(page)
        text = " ".join(reader.text)
        seen = {
            word for word in internal if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text)
        }
        assert not seen, seen
    assert "Elige una de las opciones." in refused.get_data(as_text=True)
