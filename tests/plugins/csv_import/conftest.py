"""The import tests' merchant (white label, es-CO: "1.250" is 1250; 1 point per 1,000)
and files written by the test in each dialect merchants' spreadsheets save."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from core.loyalty.program import update_program


@pytest.fixture
def shop(make_tenant, db):
    tenant = make_tenant(slug="cafe", name="Café Central", plan="white-label")
    with db(tenant) as session:
        update_program(session, {"points_per_amount": {"amount": "1000", "points": 1}})
        session.commit()
    return tenant


@pytest.fixture
def write_csv(tmp_path):
    """`write_csv(rows, delimiter=";", encoding="utf-8-sig", newline="\\r\\n")` → a path."""
    counter = iter(range(1, 1000))

    def write(
        rows: list[list[str]],
        *,
        delimiter: str = ";",
        encoding: str = "utf-8-sig",
        newline: str = "\r\n",
        name: str | None = None,
    ) -> Path:
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
        writer.writerows(rows)
        path = tmp_path / (name or f"file{next(counter)}.csv")
        path.write_bytes(buffer.getvalue().encode(encoding))
        return path

    return write
