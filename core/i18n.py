"""Languages and formats: Spanish by default, English and Brazilian Portuguese.

The UI language follows the tenant's language setting (or the browser's on
platform pages); money is formatted in the tenant's currency with the digits
merchants write (no decimals for COP, CLP, …).
"""

from __future__ import annotations

from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, get_currency_precision
from flask import g, request
from flask_babel import Babel, get_locale

LANGUAGES = ("es", "en", "pt_BR")
DEFAULT_LANGUAGE = "es"
# Currencies whose cents nobody writes, whatever Babel's data says.
NO_DECIMALS = {"COP", "CLP", "PYG", "ARS", "UYU", "CRC", "HUF", "JPY", "KRW"}


def select_locale() -> str:
    tenant = g.get("tenant")
    if tenant is not None and tenant.language in LANGUAGES:
        return tenant.language
    if request:
        return request.accept_languages.best_match(LANGUAGES, DEFAULT_LANGUAGE)
    return DEFAULT_LANGUAGE


def select_timezone() -> str:
    tenant = g.get("tenant")
    return tenant.timezone if tenant is not None else "UTC"


def money_locale() -> str:
    """The tenant's formatting region: its language with its country (es_CO, pt_BR)."""
    language = str(get_locale() or DEFAULT_LANGUAGE).split("_")[0]
    tenant = g.get("tenant")
    if tenant is not None and tenant.country:
        candidate = f"{language}_{tenant.country.upper()}"
        try:
            Locale.parse(candidate)
            return candidate
        except (UnknownLocaleError, ValueError):
            pass
    return language


def format_money(amount: Decimal | int | float, currency: str, locale: str | None = None) -> str:
    locale = locale or money_locale()
    if currency in NO_DECIMALS:
        # The locale's own pattern, with its fraction digits dropped.
        pattern = Locale.parse(locale).currency_formats["standard"].pattern
        pattern = pattern.split(";")[0].replace(".00", "").replace(",00", "")
        return format_currency(amount, currency, locale=locale, format=pattern,
                               currency_digits=False)
    return format_currency(amount, currency, locale=locale)


def money_places(currency: str) -> int:
    """How many decimals `format_money` shows in `currency`."""
    return 0 if currency in NO_DECIMALS else get_currency_precision(currency)


def init_babel(app, translation_dirs: list[str]) -> Babel:
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(translation_dirs)
    babel = Babel(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.globals["get_locale"] = get_locale
    return babel
