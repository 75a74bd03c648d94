"""marshmallow's own (English) validation messages in the user's language, for the
panel's forms drawn from schemas (`core.panel.schemaform`) and the program's settings.

A message a plugin raised itself arrives already translated and is kept as it is.
No message names a field or shows a value the merchant did not type: a refused
choice says so without listing the internal values.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from babel.numbers import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.web.i18n import money_locale


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
    "String does not match expected pattern.": _l("This value is not valid."),
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
            return _("Enter more than %(min)s and at most %(max)s.", min=_num(low), max=_num(high))
        if low_inclusive:
            return _("Enter at least %(min)s and less than %(max)s.", min=_num(low), max=_num(high))
        return _("Enter more than %(min)s and less than %(max)s.", min=_num(low), max=_num(high))
    if low is not None:
        return (
            _("Enter at least %(min)s.", min=_num(low))
            if low_inclusive
            else _("Enter more than %(min)s.", min=_num(low))
        )
    return (
        _("Enter at most %(max)s.", max=_num(high))
        if high_inclusive
        else _("Enter less than %(max)s.", max=_num(high))
    )


_LOW = rf"(greater than or equal to|greater than) {_NUMBER}"
_HIGH = rf"(less than or equal to|less than) {_NUMBER}"
_PATTERNS = (
    (re.compile(rf"Must be {_LOW} and {_HIGH}\."), lambda m: _range(m.groups())),
    (re.compile(rf"Must be {_LOW}\."), lambda m: _range(m.groups() + (None, None))),
    (re.compile(rf"Must be {_HIGH}\."), lambda m: _range((None, None) + m.groups())),
    (
        re.compile(r"Shorter than minimum length (\d+)\."),
        lambda m: _("Too short: at least %(n)s.", n=m.group(1)),
    ),
    (
        re.compile(r"Longer than maximum length (\d+)\."),
        lambda m: _("Too long: at most %(n)s.", n=m.group(1)),
    ),
    (
        re.compile(r"Length must be between (\d+) and (\d+)\."),
        lambda m: _("Between %(min)s and %(max)s long.", min=m.group(1), max=m.group(2)),
    ),
    (re.compile(r"Must be one of: (.*)\."), lambda _m: _("Choose one of the options.")),
)
