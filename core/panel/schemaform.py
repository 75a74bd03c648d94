"""A settings form drawn from a marshmallow schema (the plugins' settings sections).

Each field becomes an input by its type: Boolean a checkbox, Integer and
Decimal a number in the merchant's locale ("1.000,5" in Colombia), String a
text box, Date a date picker, and anything else (List, Nested, Dict) a JSON
text area. The label is the field's `metadata["label"]` when the plugin gives
one, else its name humanised. marshmallow's own (English) messages are put in
the user's language; a plugin's own messages arrive already translated.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import marshmallow as ma
from babel.numbers import NumberFormatError, format_decimal, parse_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from core.i18n import money_locale


@dataclass
class Input:
    """One input of a section as the template draws it."""

    name: str  # the form's field name
    key: str  # the schema's field name
    label: str
    kind: str  # boolean | integer | decimal | string | date | json
    value: Any  # text for inputs, a bool for checkboxes
    required: bool
    errors: list[str] = field(default_factory=list)


def kind_of(schema_field: ma.fields.Field) -> str:
    if isinstance(schema_field, ma.fields.Boolean):
        return "boolean"
    if isinstance(schema_field, ma.fields.Integer):
        return "integer"
    if isinstance(schema_field, (ma.fields.Decimal, ma.fields.Float)):
        return "decimal"
    if isinstance(schema_field, ma.fields.Date):
        return "date"
    if isinstance(schema_field, ma.fields.String):
        return "string"
    return "json"


def label_of(key: str, schema_field: ma.fields.Field) -> str:
    label = (schema_field.metadata or {}).get("label")
    return str(label) if label else key.replace("_", " ").strip().capitalize()


def inputs(schema: ma.Schema, values: dict[str, Any], prefix: str,
           submitted: MultiDict | None = None,
           errors: dict[str, list[str]] | None = None) -> list[Input]:
    """The section's inputs showing `values` (loaded settings) or, after a refused save,
    what the user `submitted`, with `errors` under each field."""
    dumped = schema.dump(values)
    shown = []
    for key, schema_field in schema.fields.items():
        if schema_field.dump_only:
            continue
        kind, name = kind_of(schema_field), f"{prefix}{key}"
        if submitted is not None:
            value: Any = name in submitted if kind == "boolean" else submitted.get(name, "")
        else:
            value = _show(kind, values.get(key), dumped.get(key))
        shown.append(Input(name=name, key=key, label=label_of(key, schema_field), kind=kind,
                           value=value, required=schema_field.required,
                           errors=(errors or {}).get(key, [])))
    return shown


def read(schema: ma.Schema, form: MultiDict, prefix: str
         ) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The section's values from a posted form, each parsed by its type, and the
    fields that could not be parsed (with a message in the user's language). A field
    missing from the form is left out (a checkbox's absence means unticked)."""
    data: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for key, schema_field in schema.fields.items():
        if schema_field.dump_only:
            continue
        kind, name = kind_of(schema_field), f"{prefix}{key}"
        if kind == "boolean":
            data[key] = name in form  # an unticked checkbox is not posted
            continue
        if name not in form:  # not on the page: left as it is
            continue
        text = (form.get(name) or "").strip()
        if not text:
            if schema_field.allow_none:
                data[key] = None
            elif kind == "string":
                data[key] = ""
            else:
                errors[key] = [_("This field is required.")]
            continue
        try:
            data[key] = _parse(kind, text)
        except ValueError as error:
            errors[key] = [str(error)]
    return data, errors


def validate(schema: ma.Schema, data: dict[str, Any]) -> dict[str, list[str]]:
    """The schema's refusals of `data`, per top-level field ("_schema" for the whole),
    in the user's language."""
    try:
        schema.load(data)
    except ma.ValidationError as error:
        return messages(error.normalized_messages())
    return {}


def messages(raw: dict[str, Any]) -> dict[str, list[str]]:
    """marshmallow's nested messages, one list per top-level field; nested ones
    (an item of a list) are prefixed with where they are: "2 › percent: …"."""
    found: dict[str, list[str]] = {}
    for key, value in raw.items():
        found[str(key)] = [
            f"{path}: {translate(text)}" if path else translate(text)
            for path, text in _flatten(value, "")
        ]
    return found


def translate(message: Any) -> str:
    """marshmallow's default English messages in the user's language; any other
    message (a plugin's own, translated when it was raised) as it is."""
    text = str(message)
    simple = _SIMPLE.get(text)
    if simple is not None:
        return str(simple)
    for pattern, render in _PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            return render(match)
    return text


# --- internals -----------------------------------------------------------


def _show(kind: str, value: Any, dumped: Any) -> Any:
    if kind == "boolean":
        return bool(value)
    if value is None:
        return ""
    if kind in ("integer", "decimal"):
        return format_decimal(value, locale=money_locale(), group_separator=False)
    if kind == "date":
        return value.isoformat() if isinstance(value, date) else str(value)
    if kind == "string":
        return str(value)
    return json.dumps(dumped, ensure_ascii=False, indent=2)


def _parse(kind: str, text: str) -> Any:
    if kind in ("integer", "decimal"):
        try:
            number = parse_decimal(text, locale=money_locale(), strict=True)
        except NumberFormatError:
            number = None
        if number is None or not number.is_finite():
            raise ValueError(_("Enter a number, e.g. %(example)s.",
                               example=format_decimal(Decimal("1234.5"), locale=money_locale())))
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


def _flatten(value: Any, path: str) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        found = []
        for key, inner in value.items():
            step = str(key + 1) if isinstance(key, int) else ("" if key == "_schema" else str(key))
            joined = " › ".join(part for part in (path, step) if part)
            found.extend(_flatten(inner, joined))
        return found
    if isinstance(value, list):
        return [pair for item in value for pair in _flatten(item, path)]
    return [(path, value)]


_SIMPLE = {
    "Missing data for required field.": _l("This field is required."),
    "Field may not be null.": _l("This field is required."),
    "Not a valid integer.": _l("Enter a whole number."),
    "Not a valid number.": _l("Enter a number."),
    "Number too large.": _l("This number is too large."),
    "Special numeric values (nan or infinity) are not permitted.": _l("Enter a number."),
    "Not a valid boolean.": _l("Choose yes or no."),
    "Not a valid string.": _l("Enter a text."),
    "Not a valid date.": _l("Enter a date (year-month-day)."),
    "Not a valid list.": _l("Enter a list."),
    "Invalid type.": _l("This value is not valid."),
    "Invalid input type.": _l("This value is not valid."),
    "Invalid value.": _l("This value is not valid."),
    "Unknown field.": _l("Unknown field."),
}

_NUMBER = r"(-?[\d.]+(?:E[+-]?\d+)?)"


def _num(text: str) -> str:
    return format_decimal(Decimal(text), locale=money_locale())


def _range(groups: tuple) -> str:
    low_op, low, high_op, high = groups
    low_inclusive, high_inclusive = "or equal" in (low_op or ""), "or equal" in (high_op or "")
    if low is not None and high is not None:
        if low_inclusive and high_inclusive:
            return _("Enter a value from %(min)s to %(max)s.", min=_num(low), max=_num(high))
        if high_inclusive:
            return _("Enter more than %(min)s and at most %(max)s.", min=_num(low),
                     max=_num(high))
        if low_inclusive:
            return _("Enter at least %(min)s and less than %(max)s.", min=_num(low),
                     max=_num(high))
        return _("Enter more than %(min)s and less than %(max)s.", min=_num(low), max=_num(high))
    if low is not None:
        return (_("Enter at least %(min)s.", min=_num(low)) if low_inclusive
                else _("Enter more than %(min)s.", min=_num(low)))
    return (_("Enter at most %(max)s.", max=_num(high)) if high_inclusive
            else _("Enter less than %(max)s.", max=_num(high)))


_LOW = rf"(greater than or equal to|greater than) {_NUMBER}"
_HIGH = rf"(less than or equal to|less than) {_NUMBER}"
_PATTERNS = (
    (re.compile(rf"Must be {_LOW} and {_HIGH}\."), lambda m: _range(m.groups())),
    (re.compile(rf"Must be {_LOW}\."), lambda m: _range(m.groups() + (None, None))),
    (re.compile(rf"Must be {_HIGH}\."), lambda m: _range((None, None) + m.groups())),
    (re.compile(r"Shorter than minimum length (\d+)\."),
     lambda m: _("Too short: at least %(n)s.", n=m.group(1))),
    (re.compile(r"Longer than maximum length (\d+)\."),
     lambda m: _("Too long: at most %(n)s.", n=m.group(1))),
    (re.compile(r"Length must be between (\d+) and (\d+)\."),
     lambda m: _("Between %(min)s and %(max)s long.", min=m.group(1), max=m.group(2))),
    (re.compile(r"Must be one of: (.*)\."),
     lambda m: _("Choose one of: %(choices)s.", choices=m.group(1))),
)

