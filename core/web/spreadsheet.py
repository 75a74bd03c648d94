"""CSV files that spreadsheets open safely and in the user's conventions.

A cell that starts with = + - @ (or a tab or carriage return, which some
spreadsheets skip before looking for those) is read as a formula by Excel,
LibreOffice and Google Sheets: a customer who names themself
`=HYPERLINK("http://evil", "x")` would run it on the merchant's computer.
Such text gets a leading apostrophe, which spreadsheets show as plain text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from babel.numbers import get_decimal_symbol

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"  # Excel reads a CSV as UTF-8 only with it


def safe_cell(value: Any) -> Any:
    """`value`, neutralised if it is text a spreadsheet would run as a formula."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def delimiter_for(locale: str) -> str:
    """The separator Excel expects in this locale: ";" where the decimal mark is a
    comma (es, pt_BR), "," elsewhere."""
    return ";" if get_decimal_symbol(locale) == "," else ","


def csv_lines(
    header: Iterable[Any], rows: Iterable[Iterable[Any]], *, delimiter: str = ","
) -> Iterator[str]:
    """The CSV text line by line (to stream), BOM first, every cell made safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")

    def line(cells: Iterable[Any]) -> str:
        writer.writerow([safe_cell(cell) for cell in cells])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield BOM + line([str(cell) for cell in header])
    for row in rows:
        yield line(row)
