"""A settings form drawn from a marshmallow schema (the plugins' sections of Configuración).

A plugin gets its settings screen from its schema alone, without a template. Each
field becomes an input by its type:

- Boolean: a checkbox.
- Integer, Decimal: a text box with the phone's number keyboard (`inputmode`), read
  in the merchant's locale ("1.000,5" in Colombia; a `type=number` box would refuse
  that, or send it empty).
- Date: a date picker.
- String: a text box; with a `OneOf` validator, a list of choices.
- List of Nested: rows the merchant adds and removes, one fieldset per item with the
  nested schema's fields (rows.js does it in place; without JavaScript a spare empty
  row, an "add row" and a "remove" button that redraw the page without saving, and
  clearing a row removes it).
- Anything else (Dict, List of plain values…): a JSON text area, the last resort.

What the merchant reads comes from the field's `metadata`, never from its name:

    label      the field's label ("Puntos en el cumpleaños"); without one the field's
               name is humanised, which no built-in plugin relies on.
    hint       one sentence shown under the field.
    choices    for a `OneOf` field: {value: label} for every value ("month" →
               "Mes calendario"); the value itself is never shown.
    item       for a list: the name of one row ("Nivel" draws "Nivel 1", "Nivel 2"…).
    key_from   for an identifier inside a row (a card's key): the row field it is made
               from ("name"). It is never shown: a new row gets one made from that
               field (lower case, digits, "-", at most 30 characters, unique in the
               list) and an existing row keeps its own, so renaming keeps it.

Labels and choices are lazy translated strings (`lazy_gettext`) in the plugin's
catalog. marshmallow's own (English) messages are put in the user's language and a
plugin's own messages arrive translated; each shows next to its field, and
`summary` lists them all with a link to each.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import marshmallow as ma
from babel.numbers import NumberFormatError, format_decimal, parse_decimal
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from core.panel.schemamessages import translate
from core.web.i18n import money_locale

ROW_ACTION = "schemaform-rows"
"""The name of the rows' "add" and "remove" buttons (values "add:<list>", "remove:<row>")."""
NEW = "__index__"  # the index of the row template that rows.js copies
KEY_LENGTH = 30

Path = tuple[str | int, ...]  # where a message belongs: (), ("tiers",), ("tiers", 1, "name")
Errors = dict[Path, list[str]]


@dataclass
class Rows:
    """A list's rows as typed (texts per field), without the empty ones, and how many
    empty rows to draw after them."""

    items: list[dict[str, Any]] = field(default_factory=list)
    spare: int = 1


@dataclass
class Input:
    """One input (or one list of rows) as the template draws it."""

    name: str  # the form's field name, and the element's id
    label: str
    kind: str  # boolean | integer | decimal | string | date | choice | hidden | rows | json
    value: Any = ""  # text for inputs, a bool for checkboxes
    required: bool = False
    hint: str = ""
    choices: list[tuple[str, str]] = field(default_factory=list)  # (value, label)
    errors: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    template: Row | None = None  # the empty row rows.js copies
    item: str = ""  # a list's name for one row


@dataclass
class Row:
    id: str
    legend: str
    inputs: list[Input]
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Problem:
    """One line of the error summary: the field's id, where it is, what is wrong."""

    target: str
    where: str
    message: str


def kind_of(schema_field: ma.fields.Field) -> str:
    if (schema_field.metadata or {}).get("key_from"):
        return "hidden"
    if isinstance(schema_field, ma.fields.Boolean):
        return "boolean"
    if isinstance(schema_field, ma.fields.Integer):
        return "integer"
    if isinstance(schema_field, (ma.fields.Decimal, ma.fields.Float)):
        return "decimal"
    if isinstance(schema_field, ma.fields.Date):
        return "date"
    if isinstance(schema_field, ma.fields.String):
        return "choice" if _one_of(schema_field) else "string"
    if isinstance(schema_field, ma.fields.List) and isinstance(
        schema_field.inner, ma.fields.Nested
    ):
        return "rows"
    return "json"


def label_of(key: str, schema_field: ma.fields.Field) -> str:
    label = (schema_field.metadata or {}).get("label")
    return str(label) if label else key.replace("_", " ").strip().capitalize()


def choices_of(schema_field: ma.fields.Field) -> list[tuple[str, str]]:
    """A `OneOf` field's values with their labels from `metadata["choices"]`."""
    labels = (schema_field.metadata or {}).get("choices") or {}
    one_of = _one_of(schema_field)
    values = list(one_of.choices) if one_of else []
    return [
        (str(value), str(labels.get(value) or str(value).replace("_", " ").capitalize()))
        for value in values
    ]


# --- what the form shows --------------------------------------------------


def draft_of(schema: ma.Schema, values: dict[str, Any]) -> dict[str, Any]:
    """Loaded settings as the form shows them: texts in the merchant's formats."""
    draft: dict[str, Any] = {}
    for key, schema_field in _fields(schema):
        kind, value = kind_of(schema_field), values.get(key)
        if kind == "rows":
            nested = schema_field.inner.schema
            draft[key] = Rows([draft_of(nested, item) for item in value or []])
        else:
            draft[key] = _show(kind, value, schema_field)
    return draft


def draft_from(
    schema: ma.Schema, form: MultiDict, prefix: str, action: str | None = None
) -> dict[str, Any]:
    """What was posted for the fields on the page (a field absent from the page is left
    out; a checkbox's absence means unticked), with a row added or removed when
    `action` (the value of a ROW_ACTION button) says so."""
    draft: dict[str, Any] = {}
    for key, schema_field in _fields(schema):
        kind, name = kind_of(schema_field), f"{prefix}{key}"
        if kind == "boolean":
            draft[key] = name in form
        elif kind == "rows":
            if name in form:  # the list's marker: the list is on the page
                draft[key] = _posted_rows(schema_field.inner.schema, form, name, action)
        elif name in form:
            draft[key] = (form.get(name) or "").strip()
    return draft


def inputs(
    schema: ma.Schema,
    draft: dict[str, Any],
    prefix: str,
    errors: Errors | None = None,
    path: Path = (),
) -> list[Input]:
    """The inputs showing `draft`, each with its errors (`errors` by path)."""
    if errors is None:
        errors = {}
    shown = []
    for key, schema_field in _fields(schema):
        kind, name, where = kind_of(schema_field), f"{prefix}{key}", (*path, key)
        meta = schema_field.metadata or {}
        item = Input(
            name=name,
            label=label_of(key, schema_field),
            kind=kind,
            value=draft.get(key, False if kind == "boolean" else ""),
            required=schema_field.required,
            hint=str(meta.get("hint") or ""),
            errors=list(errors.get(where, [])),
        )
        if kind == "choice":
            item.choices = choices_of(schema_field)
        if kind == "rows":
            item.item = str(meta.get("item") or item.label)
            rows = draft.get(key) or Rows()
            nested = schema_field.inner.schema
            texts = [*rows.items, *({} for _ in range(rows.spare))]
            item.rows = [
                _row(nested, text, name, index, item.item, errors, where)
                for index, text in enumerate(texts)
            ]
            item.template = _row(nested, {}, name, NEW, item.item, {}, where)
        if kind == "hidden":
            # Never shown: a message about it (a duplicate key) is the row's.
            errors.setdefault(path, []).extend(item.errors)
            item.errors = []
        shown.append(item)
    return shown


def summary(inputs_: list[Input], where: str = "") -> list[Problem]:
    """Every error of the inputs, in page order, for the summary at the top."""
    found = []
    for item in inputs_:
        # A list named like its section ("Niveles" in "Niveles") is named once.
        same = where.rpartition(" › ")[2] == item.label
        place = " › ".join(part for part in (where, item.label) if part) if not same else where
        found.extend(Problem(item.name, place, message) for message in item.errors)
        for row in item.rows:
            row_place = f"{place} › {row.legend}"
            found.extend(Problem(row.id, row_place, message) for message in row.errors)
            found.extend(summary(row.inputs, row_place))
    return found


# --- what was posted ------------------------------------------------------


def parse(
    schema: ma.Schema, draft: dict[str, Any], path: Path = ()
) -> tuple[dict[str, Any], Errors]:
    """The draft's values, each parsed by its type, and the fields that could not be
    parsed (a message in the user's language); for marshmallow to validate next."""
    data: dict[str, Any] = {}
    errors: Errors = {}
    for key, schema_field in _fields(schema):
        if key not in draft:
            continue
        kind, text, where = kind_of(schema_field), draft[key], (*path, key)
        if kind == "hidden" and not text:
            continue  # a new row's identifier: made below from its other fields
        if kind == "boolean":
            data[key] = bool(text)
        elif kind == "rows":
            nested = schema_field.inner.schema
            items = []
            for index, row in enumerate(text.items):
                values, row_errors = parse(nested, row, (*where, index))
                items.append(values)
                errors.update(row_errors)
            _make_keys(nested, items)
            data[key] = items
        elif not text:
            if schema_field.allow_none:
                data[key] = None
            elif kind == "string" and not schema_field.required:
                data[key] = ""
            elif path and not schema_field.required and schema_field.load_default is not ma.missing:
                continue  # an empty field in a row: its default
            else:
                errors[where] = [_("This field is required.")]
        else:
            try:
                data[key] = _parse(kind, text)
            except ValueError as error:
                errors[where] = [str(error)]
    return data, errors


def validate(schema: ma.Schema, data: dict[str, Any]) -> Errors:
    """The schema's refusals of `data` by path, in the user's language."""
    try:
        schema.load(data)
    except ma.ValidationError as error:
        return messages(error.normalized_messages())
    return {}


def messages(raw: Any, path: Path = ()) -> Errors:
    """marshmallow's nested messages by path ("_schema" is the level it sits in)."""
    found: Errors = {}
    if isinstance(raw, dict):
        for key, value in raw.items():
            step = (*path, key) if key != "_schema" else path
            for where, texts in messages(value, step).items():
                found.setdefault(where, []).extend(texts)
    elif isinstance(raw, list) and raw and all(isinstance(v, dict) for v in raw):
        for value in raw:
            for where, texts in messages(value, path).items():
                found.setdefault(where, []).extend(texts)
    else:
        texts = raw if isinstance(raw, list) else [raw]
        found[path] = [translate(text) for text in texts]
    return found


def path_of(dotted: str) -> Path:
    """A service's error key ("tiers.1.name") as a path."""
    return tuple(
        int(part) if part.isdigit() else part for part in dotted.split(".") if part != "_schema"
    )


# --- internals -------------------------------------------------------------


def _fields(schema: ma.Schema) -> list[tuple[str, ma.fields.Field]]:
    return [(key, f) for key, f in schema.fields.items() if not f.dump_only]


def _one_of(schema_field: ma.fields.Field) -> ma.validate.OneOf | None:
    return next((v for v in schema_field.validators if isinstance(v, ma.validate.OneOf)), None)


def _row(
    schema: ma.Schema,
    texts: dict[str, Any],
    name: str,
    index: int | str,
    item: str,
    errors: Errors,
    path: Path,
) -> Row:
    prefix = f"{name}-{index}-"
    where = (*path, index)
    fresh = {
        key: schema_field.load_default
        for key, schema_field in _fields(schema)
        if kind_of(schema_field) == "boolean" and schema_field.load_default is True
    }
    shown = inputs(schema, texts or fresh, prefix, errors, where)
    number = index + 1 if isinstance(index, int) else ""
    return Row(
        id=f"{name}-{index}",
        legend=f"{item} {number}".strip(),
        inputs=shown,
        errors=list(errors.get(where, [])),
    )


def _posted_rows(schema: ma.Schema, form: MultiDict, name: str, action: str | None) -> Rows:
    pattern = re.compile(rf"{re.escape(name)}-(\d+)-")
    indexes = sorted({int(m.group(1)) for key in form if (m := pattern.match(key))})
    rows = Rows()
    blank = 0
    for index in indexes:
        if action == f"remove:{name}-{index}":
            continue
        row = draft_from(schema, form, f"{name}-{index}-")
        if _blank(schema, row):
            blank += 1
        else:
            rows.items.append(row)
    rows.spare = blank + 1 if action == f"add:{name}" else 1
    return rows


def _blank(schema: ma.Schema, row: dict[str, Any]) -> bool:
    """A row with nothing typed (its checkboxes and hidden identifier aside)."""
    return not any(
        row.get(key)
        for key, schema_field in _fields(schema)
        if kind_of(schema_field) not in ("boolean", "hidden")
    )


def _make_keys(schema: ma.Schema, items: list[dict[str, Any]]) -> None:
    """Each new row's identifier, made from the field its metadata names."""
    for key, schema_field in _fields(schema):
        source = (schema_field.metadata or {}).get("key_from")
        if not source:
            continue
        taken = {item[key] for item in items if item.get(key)}
        for item in items:
            if item.get(key):
                continue
            base = _slug(str(item.get(source) or "")) or "item"
            made, n = base, 1
            while made in taken:
                n += 1
                made = f"{base[: KEY_LENGTH - len(str(n)) - 1]}-{n}"
            item[key] = made
            taken.add(made)


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[:KEY_LENGTH].strip("-")


def _show(kind: str, value: Any, schema_field: ma.fields.Field) -> Any:
    if kind == "boolean":
        return bool(value)
    if value is None:
        return ""
    if kind in ("integer", "decimal"):
        return format_decimal(value, locale=money_locale(), group_separator=False)
    if kind == "date":
        return value.isoformat() if isinstance(value, date) else str(value)
    if kind in ("string", "choice", "hidden"):
        return str(value)
    return json.dumps(schema_field.serialize("v", {"v": value}), ensure_ascii=False, indent=2)


def _parse(kind: str, text: str) -> Any:
    if kind in ("integer", "decimal"):
        try:
            number = parse_decimal(text, locale=money_locale(), strict=True)
        except NumberFormatError:
            number = None
        if number is None or not number.is_finite():
            raise ValueError(
                _(
                    "Enter a number, e.g. %(example)s.",
                    example=format_decimal(Decimal("1234.5"), locale=money_locale()),
                )
            )
        if kind == "integer":
            if number != number.to_integral_value():
                raise ValueError(_("Enter a whole number."))
            return int(number)
        return number
    if kind == "date":
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(_("Enter a date (year-month-day).")) from None
    if kind == "json":
        try:
            return json.loads(text)
        except ValueError:
            raise ValueError(_("This is not valid JSON.")) from None
    return text
