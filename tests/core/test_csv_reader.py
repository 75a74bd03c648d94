"""The CSV reader: the dialects Excel, Google Sheets and LibreOffice write in Spanish and
Portuguese locales, headers in three languages, numbers and dates in the merchant's locale."""

from __future__ import annotations

import tracemalloc
from datetime import date
from decimal import Decimal

import pytest

from core.web.csv_reader import (
    UnreadableFile,
    header_key,
    match_columns,
    open_csv,
    parse_day,
    parse_number,
)

ROWS = [
    ["nombres", "apellidos", "email", "puntos"],
    ["Ana María", "Núñez", "ana@mail.example", "1.250"],
    ["José", 'O"Brien; hijo', "jose@mail.example", "12"],
    ["Çağla", "Línea\nnueva", "cagla@mail.example", "0"],
]


def write(tmp_path, rows, *, delimiter=";", encoding="utf-8", bom=False, newline="\r\n"):
    def cell(text):
        if any(c in text for c in (delimiter, '"', "\n")):
            return '"' + text.replace('"', '""') + '"'
        return text

    text = newline.join(delimiter.join(cell(c) for c in row) for row in rows) + newline
    data = text.encode(encoding)
    if bom:
        data = b"\xef\xbb\xbf" + data
    path = tmp_path / "file.csv"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("delimiter", "encoding", "bom", "newline"),
    [
        (";", "utf-8", True, "\r\n"),  # Excel es/pt, "CSV UTF-8"
        (";", "cp1252", False, "\r\n"),  # Excel es/pt, plain "CSV"
        (",", "utf-8", False, "\n"),  # Google Sheets
        ("\t", "utf-8", False, "\r\n"),  # copied from a sheet, "texto delimitado por tabulaciones"
        (",", "latin-1", False, "\r\n"),
    ],
)
def test_every_dialect_reads_the_same_rows(tmp_path, delimiter, encoding, bom, newline):
    rows = ROWS if encoding == "utf-8" else [[c.replace("ğ", "g") for c in r] for r in ROWS]
    table = open_csv(
        write(tmp_path, rows, delimiter=delimiter, encoding=encoding, bom=bom, newline=newline)
    )
    assert table.delimiter == delimiter
    assert table.header == rows[0]
    assert list(table.rows()) == [(n, row) for n, row in enumerate(rows[1:], start=2)]
    assert table.count() == 3


def test_the_encoding_found(tmp_path):
    assert open_csv(write(tmp_path, ROWS, bom=True)).encoding == "utf-8-sig"
    assert open_csv(write(tmp_path, ROWS)).encoding == "utf-8"
    latin = [[c.replace("ğ", "g") for c in r] for r in ROWS]
    assert open_csv(write(tmp_path, latin, encoding="cp1252")).encoding == "cp1252"
    euro = [["nombre"], ["Café €"]]
    table = open_csv(write(tmp_path, euro, encoding="cp1252"))
    assert list(table.rows()) == [(2, ["Café €"])]  # € is 0x80 in Windows-1252


def test_row_numbers_are_the_spreadsheets_and_blank_lines_no_rows(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text(
        "email;puntos\r\n\r\na@x.example;1\r\n;\r\nb@x.example\r\n\r\n", encoding="utf-8"
    )
    table = open_csv(path)
    # blank records are skipped; a short row is padded to the header's width
    assert list(table.rows()) == [(2, ["a@x.example", "1"]), (3, ["b@x.example", ""])]


def test_text_is_kept_as_written_formulas_included(tmp_path):
    rows = [["nombre", "email"], ['=HYPERLINK("http://evil","x")', "  spaced@x.example "]]
    table = open_csv(write(tmp_path, rows, delimiter=","))
    assert list(table.rows()) == [(2, rows[1])]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (b"\r\n\r\n", "The file is empty."),
        (b"PK\x03\x04\x14\x00\x06\x00", "The file is not a text (CSV) file."),  # an .xlsx
        (b";;;\r\n1;2;3;4\r\n", "The file has no header row."),
    ],
)
def test_a_file_we_cannot_read_is_refused_with_its_reason(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(UnreadableFile) as refused:
        open_csv(path)
    assert str(refused.value.message) == message
    assert refused.value.fields == {"file": refused.value.message}


def test_rows_are_streamed_not_held(tmp_path):
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("email;puntos\r\n")
        for i in range(200_000):
            f.write(f"person{i}@mail.example;{i}\r\n")
    table = open_csv(path)
    tracemalloc.start()
    try:
        assert table.count() == 200_000
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000  # the file is ~6 MB; a held copy would be far more


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Documento de Identidad ", "documento_de_identidad"),
        ("CÉDULA", "cedula"),
        ("e-mail", "e_mail"),
        ("Núm. de puntos", "num_de_puntos"),
        ("first_name", "first_name"),
    ],
)
def test_headers_are_compared_without_case_accents_or_spacing(header, key):
    assert header_key(header) == key


def test_columns_are_matched_by_any_of_their_names():
    header = ["Nombre", "E-mail", "Cédula", "Saldo", "nombre"]
    fields = {
        "first_name": ("nombres", "nombre", "first_name"),
        "email": ("email", "e_mail", "correo"),
        "document": ("documento_de_identidad", "documento", "cedula"),
        "phone": ("telefono", "phone"),
    }
    assert match_columns(header, fields) == {"first_name": 0, "email": 1, "document": 2}


def test_a_column_serves_one_field():
    assert match_columns(["nombre"], {"a": ("nombre",), "b": ("nombre",)}) == {"a": 0}


@pytest.mark.parametrize(
    ("text", "locale", "number"),
    [
        ("1.250", "es_CO", Decimal(1250)),
        ("12,5", "es_CO", Decimal("12.5")),
        ("1.250.000,50", "es_CO", Decimal("1250000.50")),
        ("$ 45.000", "es_CO", Decimal(45000)),
        ("1250", "es_CO", Decimal(1250)),
        ("12.5", "es_CO", Decimal("12.5")),  # a dot before one digit is no thousands mark
        ("R$ 1.250,75", "pt_BR", Decimal("1250.75")),
        ("1,250", "en_US", Decimal(1250)),
        ("12.5", "en_US", Decimal("12.5")),
        ("-3", "es_CO", Decimal(-3)),
    ],
)
def test_numbers_in_the_merchants_locale(text, locale, number):
    assert parse_number(text, locale) == number


@pytest.mark.parametrize("text", ["", "abc", "1.2.3", "12,5,5", "1,25.0"])
def test_what_is_no_number_is_refused(text):
    with pytest.raises(ValueError):
        parse_number(text, "es_CO")


@pytest.mark.parametrize(
    ("text", "locale", "day"),
    [
        ("31/12/2026", "es_CO", date(2026, 12, 31)),
        ("05/01/2026", "es_CO", date(2026, 1, 5)),
        ("5/1/26", "es_CO", date(2026, 1, 5)),
        ("31/12/1980", "pt_BR", date(1980, 12, 31)),
        ("12/31/2026", "en_US", date(2026, 12, 31)),
        ("2026-01-05", "es_CO", date(2026, 1, 5)),
        ("31.12.2026", "es_CO", date(2026, 12, 31)),
    ],
)
def test_dates_in_the_locales_order_or_iso(text, locale, day):
    assert parse_day(text, locale) == day


@pytest.mark.parametrize("text", ["", "mañana", "31/02/2026", "13/31/2026", "2026-13-01"])
def test_what_is_no_date_is_refused(text):
    with pytest.raises(ValueError):
        parse_day(text, "es_CO")


@pytest.mark.parametrize("locale", ["es_CO", "pt_BR", "en_US", "en_GB", "de_DE", "ja_JP"])
def test_a_day_reads_as_babel_reads_it_in_each_locale(locale):
    """The short path (the locale's order, cached) gives Babel's own answer, including a
    month over 12 taken for the day; two-digit years still go through Babel."""
    from babel.dates import parse_date

    for text in ("03/04/2026", "31/12/1999", "12/31/1999", "1.2.2030", "07-11-1985", "5/6/07"):
        try:
            babel_day = parse_date(text.replace(".", "/").replace("-", "/"), locale, "short")
        except ValueError:  # (ja: year first) Babel refuses it: so does parse_day
            with pytest.raises(ValueError):
                parse_day(text, locale)
            continue
        if babel_day.year < 100:
            babel_day = babel_day.replace(year=2000 + babel_day.year)
        assert parse_day(text, locale) == babel_day, (text, locale)
