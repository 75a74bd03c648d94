"""Reading the CSV files merchants upload, in the dialects their spreadsheets write.

Spanish- and Portuguese-locale Excel writes `;` between cells (the comma is their
decimal mark) and Windows-1252 unless told otherwise; Google Sheets and LibreOffice
write UTF-8, with or without a BOM, and `,` or tab. Cells may be quoted, with the
separator or line breaks inside. Numbers and dates come in the merchant's locale:
in es-CO `1.250` is one thousand two hundred fifty and `12,5` twelve and a half.

A file is read from disk (an upload is saved first) and streamed: the encoding is
decided by one pass over the bytes, the separator from the header, and the rows are
yielded one at a time, so a file of a hundred thousand rows never sits in memory.
Cells are returned as written: a formula stays text here, and the spreadsheet
writer (`core.web.spreadsheet`) neutralises it on the way out.

Together with `spreadsheet` (writing), this is the front door's CSV support
(`core.sdk`); the coupons and csv_import plugins read their files through it.
"""

from __future__ import annotations

import codecs
import csv
import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from babel import Locale
from babel.dates import get_date_format, parse_date
from babel.numbers import NumberFormatError, get_decimal_symbol, get_group_symbol, parse_decimal
from flask_babel import lazy_gettext as _l

from core.host.errors import InvalidInput

SEPARATORS = (";", ",", "\t")
CHUNK = 1 << 16
# Bytes Windows-1252 leaves undefined: a file holding them is read as Latin-1.
_CP1252_HOLES = frozenset(b"\x81\x8d\x8f\x90\x9d")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
_SPACES = re.compile(r"[\s\u00a0\u202f]+")


class UnreadableFile(InvalidInput):
    """The upload is not a CSV file we can read (empty, binary, no header); the message,
    for the field "file", says why in the user's language."""

    def __init__(self, message: object) -> None:
        super().__init__(message, file=message)


@dataclass
class CsvTable:
    """An uploaded CSV file, its dialect found; `rows()` streams its records."""

    path: Path
    encoding: str
    delimiter: str
    header: list[str] = field(default_factory=list)

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        with self.path.open(encoding=self.encoding, newline="") as text:
            reader = csv.reader(text, delimiter=self.delimiter)
            number = 0
            try:
                for record in reader:
                    if not record or (number and not "".join(record).strip()):
                        continue  # blank lines are no rows; the header is the first line
                    number += 1
                    yield number, record
            except csv.Error as error:
                raise UnreadableFile(
                    _l(
                        "Row %(row)s cannot be read as CSV (%(error)s).",
                        row=number + 1,
                        error=error,
                    )
                ) from None

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(row number as a spreadsheet shows it — the header is 1 —, cells as written),
        one data row at a time; short rows padded with empty cells."""
        width = len(self.header)
        records = self._records()
        next(records, None)  # the header
        for number, record in records:
            if len(record) < width:
                record = record + [""] * (width - len(record))
            yield number, record

    def count(self) -> int:
        """How many data rows the file holds (one streamed pass), for progress bars."""
        return sum(1 for _ in self.rows())


def open_csv(path: str | Path) -> CsvTable:
    """The CSV file at `path` with its encoding and separator found; UnreadableFile
    when it is empty, not text, or has no header row."""
    path = Path(path)
    with path.open("rb") as raw:
        head = raw.read(4)
    if not head:
        raise UnreadableFile(_l("The file is empty."))
    encoding = _encoding(path, head)
    if encoding is None:
        raise UnreadableFile(_l("The file is not a text (CSV) file."))
    table = CsvTable(path=path, encoding=encoding, delimiter=_separator(path, encoding))
    first = next(table._records(), None)
    if first is None:
        raise UnreadableFile(_l("The file is empty."))
    table.header = first[1]
    if not any(cell.strip() for cell in table.header):
        raise UnreadableFile(_l("The file has no header row."))
    return table


def _encoding(path: Path, head: bytes) -> str | None:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    utf8 = codecs.getincrementaldecoder("utf-8")()
    holes = False
    with path.open("rb") as raw:
        while chunk := raw.read(CHUNK):
            if b"\x00" in chunk:
                return None  # a spreadsheet's binary format (xlsx, xls), an image…
            if utf8 is not None:
                try:
                    utf8.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = None
            holes = holes or not _CP1252_HOLES.isdisjoint(chunk)
    if utf8 is not None:
        try:
            utf8.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:
            pass
    return "latin-1" if holes else "cp1252"


def _separator(path: Path, encoding: str) -> str:
    """The separator the header line uses most, outside quotes (`,` for one column)."""
    counts = dict.fromkeys(SEPARATORS, 0)
    quoted = False
    with path.open(encoding=encoding, newline="") as text:
        for char in text.read(CHUNK):
            if char == '"':
                quoted = not quoted
            elif quoted:
                continue
            elif char in counts:
                counts[char] += 1
            elif char in "\r\n":
                break
    best = max(SEPARATORS, key=lambda s: counts[s])  # ties: the first, ";" (Excel in es/pt)
    return best if counts[best] else ","


def header_key(text: str) -> str:
    """A header as compared: "Documento de Identidad " → "documento_de_identidad"
    (case, accents, spaces, hyphens and dots folded)."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return _NOT_ALNUM.sub("_", plain.casefold()).strip("_")


def match_columns(header: list[str], fields: dict[str, Iterable[str]]) -> dict[str, int]:
    """field → the index of the column whose header is one of the field's names (in any
    case or accentuation); fields no column names are absent. A column serves one field."""
    columns: dict[str, int] = {}
    for index, cell in enumerate(header):
        columns.setdefault(header_key(cell), index)
    matched: dict[str, int] = {}
    for name, synonyms in fields.items():
        for synonym in synonyms:
            index = columns.get(header_key(synonym))
            if index is not None and index not in matched.values():
                matched[name] = index
                break
    return matched


@functools.lru_cache(maxsize=64)
def _locale(identifier: str | Locale) -> Locale:
    """The locale's data, parsed once: an import reads numbers and dates in one locale
    cell after cell (Babel parses a locale name again on every call otherwise)."""
    return Locale.parse(identifier)


@functools.lru_cache(maxsize=64)
def _date_order(locale: str) -> tuple[int, int, int]:
    """Where the year, the month and the day come in the locale's short date, as Babel's
    `parse_date` finds them (0, 1, 2: 31/12/2026 is (2, 1, 0) in es)."""
    pattern = get_date_format("short", locale=_locale(locale)).pattern.lower()
    month = pattern.find("m")
    found = {"y": pattern.index("y"), "m": month if month >= 0 else pattern.index("l")}
    found["d"] = pattern.index("d")
    order = sorted(found, key=found.get)
    return order.index("y"), order.index("m"), order.index("d")


def parse_number(text: str, locale: str | Locale) -> Decimal:
    """A number as the merchant's locale writes it ("1.250" and "12,5" in es-CO), or
    plainly ("1250", "12.5" where the dot cannot be a thousands mark); currency signs
    and spaces ignored. ValueError when it is no number."""
    cleaned = _SPACES.sub("", text or "").strip("$€£¥₩₹").removeprefix("R$")
    cleaned = _SPACES.sub("", cleaned)
    if not cleaned:
        raise ValueError("empty")
    if cleaned.isascii() and cleaned.isdigit():
        return Decimal(cleaned)  # plain digits read alike in every locale: no Babel
    parsed = _locale(locale)
    try:
        return parse_decimal(cleaned, locale=parsed, strict=True)
    except NumberFormatError:
        pass
    decimal_mark, group_mark = get_decimal_symbol(parsed), get_group_symbol(parsed)
    # "12.5" in a comma locale: a dot not followed by three digits is no group mark.
    if (
        decimal_mark == ","
        and group_mark == "."
        and re.fullmatch(r"-?\d+\.\d{1,2}|-?\d+\.\d{4,}", cleaned)
    ):
        try:
            return Decimal(cleaned)
        except InvalidOperation:
            pass
    raise ValueError(f"not a number in {locale}: {text!r}")


def parse_day(text: str, locale: str | Locale) -> date:
    """A date written in ISO (2026-12-31) or in the locale's short order (31/12/2026 in
    es and pt-BR, 12/31/2026 in en-US). ValueError otherwise."""
    cleaned = (text or "").strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", cleaned):
        return date.fromisoformat(cleaned)
    if not re.fullmatch(r"\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}", cleaned):
        raise ValueError(f"not a date: {text!r}")
    numbers = re.findall(r"\d+", cleaned)
    year_at, month_at, day_at = _date_order(str(locale))
    if len(numbers[year_at]) == 4:
        # As Babel's `parse_date` reads it (the locale's order, a month over 12 taken for
        # the day), without Babel's per-call work: a fifth of an import's Python time.
        month, day = int(numbers[month_at]), int(numbers[day_at])
        if month > 12:
            month, day = day, month
        return date(int(numbers[year_at]), month, day)  # ValueError if no such day
    try:
        day = parse_date(
            cleaned.replace(".", "/").replace("-", "/"), locale=_locale(locale), format="short"
        )
    except (ValueError, IndexError):
        raise ValueError(f"not a date in {locale}: {text!r}") from None
    if day.year < 100:  # "31/12/26"
        day = day.replace(year=2000 + day.year if day.year < 70 else 1900 + day.year)
    return day
