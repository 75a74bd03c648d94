"""Languages and formats: Spanish by default, English and Brazilian Portuguese.

The UI language follows the tenant's language setting (or the browser's on
platform pages); money is formatted in the tenant's currency with the digits
merchants write (no decimals for COP, CLP, …).
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from zoneinfo import available_timezones

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, get_currency_precision, list_currencies
from flask import g, request
from flask_babel import Babel, get_locale

LANGUAGES = ("es", "en", "pt_BR")
DEFAULT_LANGUAGE = "es"
# Each language named in itself, so anyone finds their own in the list.
LANGUAGE_NAMES = {"es": "Español", "en": "English", "pt_BR": "Português (Brasil)"}
# Currencies whose cents nobody writes, whatever Babel's data says.
NO_DECIMALS = {"COP", "CLP", "PYG", "ARS", "UYU", "CRC", "HUF", "JPY", "KRW"}


def select_locale() -> str:
    customer = g.get("customer")  # the customer app: the person's own language first
    if customer is not None and customer.language in LANGUAGES:
        return customer.language
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
    """An amount in a currency, in the locale's format (no decimals where there are no cents)."""
    locale = locale or money_locale()
    if currency in NO_DECIMALS:
        # The locale's own pattern, with its fraction digits dropped.
        pattern = Locale.parse(locale).currency_formats["standard"].pattern
        pattern = pattern.split(";")[0].replace(".00", "").replace(",00", "")
        return format_currency(
            amount, currency, locale=locale, format=pattern, currency_digits=False
        )
    return format_currency(amount, currency, locale=locale)


def money_places(currency: str) -> int:
    """How many decimals `format_money` shows in `currency`."""
    return 0 if currency in NO_DECIMALS else get_currency_precision(currency)


# The lists a merchant picks its profile from (sign-up and Configuración), labelled in
# the user's language.

# CLDR's two-letter regions that are no country: groupings, pseudo-locales, "unknown".
NOT_COUNTRIES = frozenset({"EU", "EZ", "QO", "UN", "XA", "XB", "ZZ"})


@cache
def country_codes() -> frozenset[str]:
    return frozenset(
        code
        for code in Locale("en").territories
        if len(code) == 2 and code.isalpha() and code not in NOT_COUNTRIES
    )


def country_choices() -> list[tuple[str, str]]:
    """(ISO code, name) of every country, sorted by its name in the user's language."""
    names = _locale().territories
    return sorted(((code, names[code]) for code in country_codes()), key=lambda pair: pair[1])


def currency_choices() -> list[tuple[str, str]]:
    names = _locale().currencies
    return [(code, f"{code} · {names.get(code, code)}") for code in sorted(list_currencies())]


@cache
def timezone_choices() -> list[tuple[str, str]]:
    """The IANA zones by region ("America/Bogota"), without the bare aliases ("EST")."""
    return [(zone, zone.replace("_", " ")) for zone in sorted(available_timezones()) if "/" in zone]


def _locale() -> Locale:
    return Locale.parse(str(get_locale() or DEFAULT_LANGUAGE))


def init_babel(app, translation_dirs: list[str]) -> Babel:
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(translation_dirs)
    babel = Babel(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.globals["get_locale"] = get_locale
    return babel
