"""Translations: complete catalogs that compile, translated pages, money in the tenant's format.

The catalogs are checked against the source itself: the messages are extracted
the way `make extract` does (babel.cfg, the same keywords), so a new
user-facing string without a Spanish, English and Brazilian Portuguese
translation fails here.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import CommandLineInterface, parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from flask import g
from flask_babel import force_locale, gettext

from core.web.i18n import DEFAULT_LANGUAGE, LANGUAGES, format_money

ROOT = Path(__file__).resolve().parents[2]
# Catalog folder → the source folders extracted into it (as in the Makefile's
# `extract` target); every plugin package keeps a catalog of its own.
CATALOGS: dict[str, tuple[str, ...]] = {
    "core/translations": ("core", "tenants", "themes"),
    **{
        f"plugins/{p.name}/translations": (f"plugins/{p.name}",)
        for p in sorted((ROOT / "plugins").iterdir())
        if (p / "__init__.py").is_file()
    },
    # The example external plugins (examples/<dist>/<package>/), installed by make install.
    **{
        f"{package.parent.relative_to(ROOT).as_posix()}/translations": (
            package.parent.relative_to(ROOT).as_posix(),
        )
        for package in sorted((ROOT / "examples").glob("*/*/__init__.py"))
    },
}
# The catalog folders that exist (a plugin without user-facing strings needs none).
FOLDERS = sorted(folder for folder in CATALOGS if (ROOT / folder).is_dir())
# `pybabel extract -k _l -k lazy_gettext` adds to Babel's default keywords (_, gettext, …).
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
PLACEHOLDER = re.compile(r"%(?:\(\w+\))?[#0 +-]*(?:\d+|\*)?(?:\.\d+)?[diouxXeEfFgGcrsa%]")


def po_path(folder: str, language: str) -> Path:
    return ROOT / folder / language / "LC_MESSAGES" / "messages.po"


def read_catalog(path: Path):
    with path.open("rb") as f:
        return read_po(f, locale=path.parents[1].name, abort_invalid=True)


def compile_stale_catalogs() -> None:
    """Write each .mo the app reads if it is missing or older than its .po.

    `make translations` does this before the suite runs; this keeps a plain
    `pytest` after editing a .po honest. Written atomically: other test runs
    may read the same files.
    """
    for folder in CATALOGS:
        for po in sorted((ROOT / folder).glob("*/LC_MESSAGES/messages.po")):
            mo = po.with_suffix(".mo")
            if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
                continue
            catalog = read_catalog(po)
            fd, tmp = tempfile.mkstemp(dir=po.parent, suffix=".mo.tmp")
            with os.fdopen(fd, "wb") as f:
                write_mo(f, catalog)
            os.chmod(tmp, 0o644)  # mkstemp makes it private; the .mo is for everyone
            os.replace(tmp, mo)


@pytest.fixture(scope="module", autouse=True)
def compiled_catalogs() -> None:
    compile_stale_catalogs()


def extract(folder: str) -> tuple[dict[tuple[str, str | None], list[str]], set[Path]]:
    """The messages of a catalog's sources (msgid, context → where) and the files read."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    messages: dict[tuple[str, str | None], list[str]] = {}
    read: set[Path] = set()
    for source in CATALOGS[folder]:
        base = ROOT / source

        def seen(filename: str, _method: str, _options: dict, base: Path = base) -> None:
            read.add(base / filename)

        for filename, lineno, message, _comments, context in extract_from_dir(
            str(base), method_map, options_map, keywords=KEYWORDS, callback=seen
        ):
            msgid = message[0] if isinstance(message, tuple) else message
            messages.setdefault((msgid, context), []).append(f"{source}/{filename}:{lineno}")
    return messages, read


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def test_languages_and_catalog_folders():
    assert set(LANGUAGES) == {"es", "en", "pt_BR"} and DEFAULT_LANGUAGE == "es"
    assert "core/translations" in FOLDERS
    for folder in CATALOGS:
        messages, _read = extract(folder)
        for language in LANGUAGES:
            if messages or folder in FOLDERS:
                assert po_path(folder, language).is_file(), f"{folder}: no {language} catalog"


@pytest.mark.parametrize("folder", sorted(CATALOGS))
def test_extraction_reads_every_source_file(folder):
    """babel.cfg covers all Python files and every template (.html and the .txt mails)."""
    messages, read = extract(folder)
    expected = set()
    for source in CATALOGS[folder]:
        for path in (ROOT / source).rglob("*"):
            parts = path.relative_to(ROOT / source).parts
            if any(p.startswith((".", "_")) for p in parts[:-1]) or not path.is_file():
                continue
            if path.suffix == ".py" or ("templates" in parts and path.suffix in {".html", ".txt"}):
                expected.add(path)
    assert expected - read == set()
    if folder == "core/translations":
        assert len(messages) > 50


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("folder", sorted(CATALOGS))
def test_every_message_is_translated(folder, language):
    messages, _read = extract(folder)
    if not messages:
        return  # nothing to translate
    assert po_path(folder, language).is_file(), f"{folder}: no {language} catalog"
    catalog = read_catalog(po_path(folder, language))
    assert not catalog.fuzzy, "the catalog header is fuzzy: pybabel compile would skip it"
    problems = []
    for (msgid, context), where in sorted(messages.items(), key=lambda item: item[1][0]):
        entry = catalog.get(msgid, context=context)
        if entry is None:
            problems.append(f"missing: {msgid!r} ({where[0]})")
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if entry.fuzzy:
            problems.append(f"fuzzy: {msgid!r} ({where[0]})")
        elif not all(s.strip() for s in strings):
            problems.append(f"untranslated: {msgid!r} ({where[0]})")
        elif any(placeholders(s) != placeholders(msgid) for s in strings):
            problems.append(f"placeholders differ: {msgid!r} → {strings!r}")
    assert problems == [], f"{po_path(folder, language).relative_to(ROOT)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("language", LANGUAGES)
def test_plugins_never_reword_the_cores_messages(language):
    """The app merges every catalog into one domain, a plugin's last: a plugin's
    different msgstr for a core msgid would change the core's screens ("Staff" became
    "Personal" on Empleados)."""
    core = {m.id: m.string for m in read_catalog(po_path("core/translations", language)) if m.id}
    clashes = [
        (folder, message.id, message.string, core[message.id])
        for folder in FOLDERS
        if folder != "core/translations"
        for message in read_catalog(po_path(folder, language))
        if message.id and message.id in core and message.string != core[message.id]
    ]
    assert clashes == []


def test_placeholder_check_catches_mistakes():
    assert placeholders("Hello %(name)s,") == placeholders("Hola, %(name)s:")
    assert placeholders("%(points)s points") != placeholders("%(puntos)s puntos")
    assert placeholders("at least %(n)d characters") != placeholders("al menos %(n)s caracteres")
    assert placeholders("100%% sure") == ["%%"]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("folder", FOLDERS)
def test_catalog_compiles_and_round_trips(folder, language):
    catalog = read_catalog(po_path(folder, language))
    assert [(m.id, errors) for m, errors in catalog.check()] == []  # python-format checks
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    compiled = read_mo(buffer)
    buffer.seek(0)
    translations = Translations(fp=buffer)
    translated = [m for m in catalog if m.id and m.string]
    assert len(translated) == len(catalog)
    for message in translated:
        # Plural forms read back from a .mo as a list, from a .po as a tuple.
        string = compiled.get(message.id, context=message.context).string
        assert (list(string) if message.pluralizable else string) == (
            list(message.string) if message.pluralizable else message.string
        )
        if not message.pluralizable and message.context is None:
            assert translations.gettext(message.id) == message.string


@pytest.mark.parametrize("folder", FOLDERS)
def test_pybabel_compile_command(folder, tmp_path):
    """The command of `make translations` compiles every language without errors."""
    target = tmp_path / "translations"
    shutil.copytree(ROOT / folder, target, ignore=shutil.ignore_patterns("*.mo", "*.tmp"))
    status = CommandLineInterface().run(
        ["pybabel", "-q", "compile", "-d", str(target), "-D", "messages"]
    )
    assert status == 0
    for language in LANGUAGES:
        assert (target / language / "LC_MESSAGES" / "messages.mo").stat().st_size > 0


def test_plugin_catalogs_are_merged_into_the_app(app):
    """Core and plugin catalogs share the `messages` domain; the app reads both."""
    directories = app.config["BABEL_TRANSLATION_DIRECTORIES"].split(";")
    relative = [Path(d).relative_to(ROOT).as_posix() for d in directories]
    assert relative[0] == "core/translations"
    assert sorted(relative) == FOLDERS
    with app.test_request_context():
        with force_locale("pt_BR"):
            assert gettext("Log in") == "Entrar"
            assert gettext("Welcome to %(merchant)s", merchant="Café Aroma") == (
                "Café Aroma dá as boas-vindas a você"
            )
        with force_locale("es"):
            assert gettext("Log in") == "Iniciar sesión"
            assert gettext("Your balance: %(points)s points.", points="1.250") == (
                "Tu saldo: 1.250 puntos."
            )
        with force_locale("en"):
            assert gettext("Your balance: %(points)s points.", points="1,250") == (
                "Your balance: 1,250 points."
            )


# --- money -------------------------------------------------------------------------------

NBSP = "\xa0"


@pytest.mark.parametrize(
    ("language", "country", "currency", "timezone", "amount", "expected"),
    [
        ("es", "CO", "COP", "America/Bogota", Decimal("45000"), "$45.000"),
        ("es", "CO", "COP", "America/Bogota", Decimal("1234567.891"), "$1.234.568"),
        ("pt_BR", "BR", "BRL", "America/Sao_Paulo", Decimal("1234.5"), f"R${NBSP}1.234,50"),
        ("es", "ES", "EUR", "Europe/Madrid", Decimal("12345.5"), f"12.345,50{NBSP}€"),
        ("es", "MX", "MXN", "America/Mexico_City", Decimal("45000"), "$45,000.00"),
    ],
)
def test_money_in_the_tenants_format(
    app, make_tenant, language, country, currency, timezone, amount, expected
):
    tenant = make_tenant(language=language, country=country, currency=currency, timezone=timezone)
    # A fresh app context: its own `g`, so no locale cached by an earlier request.
    with app.app_context(), app.test_request_context(f"/t/{tenant.slug}/"):
        g.tenant = tenant
        assert format_money(amount, currency) == expected


def test_money_with_an_explicit_locale(app):
    with app.test_request_context():
        assert format_money(45000, "COP", locale="es_CO") == "$45.000"
        assert format_money(Decimal("9.9"), "BRL", locale="pt_BR") == f"R${NBSP}9,90"


def test_money_filter_in_templates(app, make_tenant):
    tenant = make_tenant(
        language="pt_BR", country="BR", currency="BRL", timezone="America/Sao_Paulo"
    )
    with app.app_context(), app.test_request_context(f"/t/{tenant.slug}/"):
        g.tenant = tenant
        rendered = app.jinja_env.from_string("{{ 1234.5|money('BRL') }}").render()
    assert rendered == f"R${NBSP}1.234,50"


# --- pages -------------------------------------------------------------------------------

LOGIN = {
    "es": {"lang": "es", "texts": ["Iniciar sesión", "Correo electrónico", "Contraseña"]},
    "en": {"lang": "en", "texts": ["Log in", "E-mail", "Password"]},
    "pt_BR": {"lang": "pt-BR", "texts": ["Entrar", "E-mail", "Senha"]},
}


@pytest.fixture
def login_page(make_tenant, client) -> Callable[[str], str]:
    def get(language: str) -> str:
        tenant = make_tenant(language=language)
        response = client.get(f"/t/{tenant.slug}/login")
        assert response.status_code == 200
        return response.get_data(as_text=True)

    return get


@pytest.mark.parametrize("language", LANGUAGES)
def test_login_page_in_the_tenants_language(login_page, language):
    html = login_page(language)
    expected = LOGIN[language]
    assert f'<html lang="{expected["lang"]}">' in html
    assert f"<h1>{expected['texts'][0]}</h1>" in html
    assert f'<button type="submit">{expected["texts"][0]}</button>' in html
    for text in expected["texts"]:
        assert text in html
    for other, strings in LOGIN.items():
        if other != language:
            assert strings["texts"][0] not in html  # "Log in" in another language
