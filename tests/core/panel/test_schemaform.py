"""Forms drawn from a marshmallow schema: inputs by type, lists as rows added and removed,
choices and identifiers never shown as they are stored, messages by field."""

from __future__ import annotations

from decimal import Decimal

import marshmallow as ma
import pytest
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from core.panel import schemaform


class Card(ma.Schema):
    key = ma.fields.String(
        required=True,
        validate=ma.validate.Regexp(r"^[a-z0-9-]{1,30}$"),
        metadata={"key_from": "name"},
    )
    name = ma.fields.String(
        required=True, validate=ma.validate.Length(min=1), metadata={"label": _l("Name")}
    )
    size = ma.fields.Integer(required=True, validate=ma.validate.Range(min=2))
    active = ma.fields.Boolean(load_default=True)


class Settings(ma.Schema):
    bonus_points = ma.fields.Integer(load_default=5, metadata={"label": _l("Points")})
    starts_on = ma.fields.Date(allow_none=True, load_default=None)
    rate = ma.fields.Decimal(as_string=True, load_default=None, allow_none=True)
    on = ma.fields.Boolean(load_default=True)
    period = ma.fields.String(
        load_default="month",
        validate=ma.validate.OneOf(["month", "week"]),
        metadata={"choices": {"month": _l("From"), "week": _l("Until")}},
    )
    cards = ma.fields.List(ma.fields.Nested(Card), load_default=list, metadata={"item": _l("Card")})
    tags = ma.fields.List(ma.fields.String(), load_default=list)


def _posted(**fields: str) -> MultiDict:
    return MultiDict({"p-cards": "", **{f"p-{k}": v for k, v in fields.items()}})


def test_a_schema_draws_its_inputs_by_type_with_the_plugins_labels(app):
    with app.test_request_context(), force_locale("es"):
        values = Settings().load(
            {
                "rate": "1234.5",
                "tags": ["a"],
                "cards": [{"key": "cafe", "name": "Café", "size": 10}],
            }
        )
        shown = schemaform.inputs(Settings(), schemaform.draft_of(Settings(), values), "p-")
        assert [(i.label, i.kind, i.value) for i in shown if i.kind != "rows"] == [
            ("Puntos", "integer", "5"),
            ("Starts on", "date", ""),
            ("Rate", "decimal", "1234,5"),
            ("On", "boolean", True),
            ("Period", "choice", "month"),
            ("Tags", "json", '[\n  "a"\n]'),
        ]
        assert shown[4].choices == [("month", "Desde"), ("week", "Hasta")]
        cards = shown[5]
        # the stored card, then a spare empty row (its checkbox ticked by default)
        assert [row.legend for row in cards.rows] == ["Tarjeta 1", "Tarjeta 2"]
        assert [(i.name, i.kind, i.value) for i in cards.rows[0].inputs] == [
            ("p-cards-0-key", "hidden", "cafe"),
            ("p-cards-0-name", "string", "Café"),
            ("p-cards-0-size", "integer", "10"),
            ("p-cards-0-active", "boolean", True),
        ]
        assert [i.value for i in cards.rows[1].inputs] == ["", "", "", True]
        assert cards.template.inputs[1].name == "p-cards-__index__-name"


def test_posted_rows_are_read_by_type_empty_ones_dropped_and_new_keys_made(app):
    with app.test_request_context(), force_locale("es"):
        draft = schemaform.draft_from(
            Settings(),
            _posted(
                **{
                    "bonus_points": "1.000",
                    "starts_on": "",
                    "rate": "2,5",
                    "tags": "[]",
                    "period": "week",
                    "cards-0-key": "cafe",
                    "cards-0-name": "Café grande",
                    "cards-0-size": "10",
                    "cards-3-key": "",
                    "cards-3-name": "Té Chai",
                    "cards-3-size": "5",
                    "cards-3-active": "y",
                    "cards-5-key": "",
                    "cards-5-name": "Café",
                    "cards-5-size": "8",
                    "cards-7-key": "",
                    "cards-7-name": "",
                    "cards-7-size": "",
                    "cards-7-active": "y",
                }
            ),
            "p-",
        )
        data, errors = schemaform.parse(Settings(), draft)
        assert errors == {}
        assert data == {
            "bonus_points": 1000,
            "starts_on": None,
            "rate": Decimal("2.5"),
            "on": False,
            "period": "week",
            "tags": [],
            # a renamed card keeps its key; new ones get one from the name, unique
            "cards": [
                {"key": "cafe", "name": "Café grande", "size": 10, "active": False},
                {"key": "te-chai", "name": "Té Chai", "size": 5, "active": True},
                {"key": "cafe-2", "name": "Café", "size": 8, "active": False},
            ],
        }
        assert Settings().load(data)["cards"][1]["key"] == "te-chai"


def test_a_list_missing_from_the_page_is_left_alone_and_an_empty_one_is_emptied(app):
    with app.test_request_context():
        assert "cards" not in schemaform.draft_from(Settings(), MultiDict({}), "p-")
        data, _errors = schemaform.parse(
            Settings(), schemaform.draft_from(Settings(), _posted(), "p-")
        )
        assert data["cards"] == []


def test_the_add_and_remove_buttons_change_the_rows_drawn(app):
    posted = _posted(
        **{
            "cards-0-name": "A",
            "cards-0-size": "3",
            "cards-1-name": "B",
            "cards-1-size": "4",
            "cards-2-name": "",
            "cards-2-size": "",
        }
    )
    with app.test_request_context():

        def names(action):
            draft = schemaform.draft_from(Settings(), posted, "p-", action)
            rows = schemaform.inputs(Settings(), draft, "p-")[5].rows
            return [row.inputs[1].value for row in rows]

        assert names(None) == ["A", "B", ""]
        assert names("remove:p-cards-0") == ["B", ""]
        assert names("add:p-cards") == ["A", "B", "", ""]


def test_messages_sit_next_to_their_field_in_plain_words_and_in_the_summary(app):
    with app.test_request_context(), force_locale("es"):
        draft = schemaform.draft_from(
            Settings(),
            _posted(
                **{
                    "bonus_points": "cinco",
                    "period": "year",
                    "cards-0-name": "Café",
                    "cards-0-size": "1",
                    "cards-1-name": "",
                    "cards-1-size": "3",
                }
            ),
            "p-",
        )
        data, errors = schemaform.parse(Settings(), draft)
        errors = {**schemaform.validate(Settings(), {**data, "bonus_points": 1}), **errors}
        assert errors == {
            ("bonus_points",): ["Escribe un número, p. ej. 1.234,5."],
            ("period",): ["Elige una de las opciones."],
            ("cards", 0, "size"): ["Escribe al menos 2."],
            ("cards", 1, "name"): ["Este campo es obligatorio."],
        }
        shown = schemaform.inputs(Settings(), draft, "p-", errors)
        assert shown[5].rows[0].inputs[2].errors == ["Escribe al menos 2."]
        assert [(p.target, p.where, p.message) for p in schemaform.summary(shown, "Sellos")] == [
            ("p-bonus_points", "Sellos › Puntos", "Escribe un número, p. ej. 1.234,5."),
            ("p-period", "Sellos › Period", "Elige una de las opciones."),
            ("p-cards-0-size", "Sellos › Cards › Tarjeta 1 › Size", "Escribe al menos 2."),
            ("p-cards-1-name", "Sellos › Cards › Tarjeta 2 › Nombre", "Este campo es obligatorio."),
        ]


def test_a_message_about_a_hidden_identifier_belongs_to_its_row(app):
    with app.test_request_context():
        errors = schemaform.messages({"cards": {0: {"key": ["Not valid."]}}})
        assert errors == {("cards", 0, "key"): ["Not valid."]}
        draft = schemaform.draft_of(
            Settings(), Settings().load({"cards": [{"key": "cafe", "name": "Café", "size": 10}]})
        )
        row = schemaform.inputs(Settings(), draft, "p-", errors)[5].rows[0]
        assert row.errors == ["Not valid."] and not row.inputs[0].errors
        assert schemaform.path_of("cards.0.key") == ("cards", 0, "key")


@pytest.fixture
def plugin_schemas(platform):
    return {
        name: info.settings_schema
        for name, info in platform.plugins.infos.items()
        if info.settings_schema is not None
    }


def test_every_plugins_settings_are_labelled_in_the_merchants_words(plugin_schemas):
    """What the page shows comes from the schemas' metadata: every field a merchant sees
    has a label, every choice a label, every list a name for its rows."""
    assert {"tiers", "cashback", "packs", "punchcards", "birthday", "notifications"} <= set(
        plugin_schemas
    )

    def check(schema: ma.Schema, where: str) -> None:
        for key, field in schema.fields.items():
            kind, meta = schemaform.kind_of(field), field.metadata or {}
            assert kind != "json", f"{where}.{key} would be a JSON text area"
            if kind == "hidden":
                assert meta["key_from"] in schema.fields, f"{where}.{key}"
                continue
            assert meta.get("label"), f"{where}.{key} has no label"
            if kind == "choice":
                values = schemaform._one_of(field).choices
                assert set(meta.get("choices", {})) == set(values), f"{where}.{key}"
            if kind == "rows":
                assert meta.get("item"), f"{where}.{key} has no name for a row"
                check(field.inner.schema, f"{where}.{key}")

    for name, schema in plugin_schemas.items():
        check(schema(), name)
