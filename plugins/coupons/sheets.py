"""Printable sheets of QR codes (PDF): a campaign's coupons, or copies of a page QR.

Five layouts: a poster (1 per A4 page), labels 4, 8 and 24 per A4 page, and an
80 mm ticket roll (one ticket per page, as a roll printer cuts them). Each coupon
shows the merchant's logo and colours, the points, a short instruction in the
merchant's language, the expiry in the merchant's locale, the code to type and the
QR, which carries the claim page's URL (`claims.claim_url`).

Speed (bench/coupons.py): a QR is drawn with a fixed mask (segno otherwise tries
all eight and scores each) as a one-pixel-per-module PNG that the PDF scales up
without smoothing, so it prints sharp at any size; the logo is shrunk once and
named once in the stylesheet, not once per coupon. WeasyPrint lays out a few
pages at a time (`CHUNK_PAGES`), so memory stays flat however many coupons there
are; the parts are joined with pypdf. WeasyPrint fetches nothing but data: URIs:
a sheet is drawn from our template and the merchant's data, never from the web.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO

import segno
from babel.dates import format_skeleton
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from core.sdk import Tenant, money_locale, render_template, upload_folder

TEMPLATE = "coupons/sheets/sheet.html"
QR_MASK = 4  # any fixed mask scans; choosing the "best" one costs most of a QR's time
QR_BORDER = 4  # the quiet zone scanners need, in modules, inside the image
CHUNK_PAGES = 10  # pages laid out per WeasyPrint run: memory flat, few runs
LOGO_PIXELS = 400  # the logo's longest side on paper: sharp at 300 dpi in 34 mm


@dataclass(frozen=True)
class Layout:
    """A sheet's geometry, in millimetres. `side`: QR left of the text, else above it."""

    name: str
    label: object  # lazy string
    page_width: float
    page_height: float
    columns: int
    rows: int
    qr: float
    side: bool
    font: float  # base font size, pt
    cut_lines: bool = True

    @property
    def per_page(self) -> int:
        return self.columns * self.rows

    @property
    def cell_width(self) -> float:
        return self.page_width / self.columns

    @property
    def cell_height(self) -> float:
        return self.page_height / self.rows


A4 = (210.0, 297.0)
LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout("poster", _l("Poster: 1 per A4 page"), *A4, 1, 1, 130, False, 20, False),
        Layout("labels-4", _l("Labels: 4 per A4 page"), *A4, 2, 2, 72, False, 11),
        Layout("labels-8", _l("Labels: 8 per A4 page"), *A4, 2, 4, 56, True, 8.5),
        Layout("labels-24", _l("Labels: 24 per A4 page"), *A4, 3, 8, 33, True, 6),
        Layout("ticket", _l("Ticket roll: 80 mm wide"), 80, 120, 1, 1, 56, False, 9, False),
    )
}


@dataclass(frozen=True)
class Item:
    """One printed QR: `url` is what it carries. A coupon has its code, points and
    expiry; a page QR has a title instead."""

    url: str
    code: str | None = None
    points: int | None = None
    expires_on: date | None = None
    title: str | None = None


def qr_data_uri(url: str) -> str:
    """The QR of `url` as a PNG data URI, one pixel per module (error correction M:
    a crease or a smudge on paper still scans)."""
    qr = segno.make_qr(url, error="m", mask=QR_MASK, boost_error=False)
    return qr.png_data_uri(scale=1, border=QR_BORDER)


def logo_data_uri(tenant: Tenant) -> str | None:
    """The merchant's logo shrunk to `LOGO_PIXELS` as a PNG data URI; None without one.

    The stored file was checked when uploaded (kind, bytes, pixels); it is read
    from the merchant's own upload folder, never fetched by WeasyPrint."""
    if not tenant.logo or "/" in tenant.logo or "\\" in tenant.logo:
        return None
    path = upload_folder(tenant.id) / tenant.logo
    if not path.is_file():
        return None
    from PIL import Image

    with Image.open(path) as image:
        image.thumbnail((LOGO_PIXELS, LOGO_PIXELS))
        out = io.BytesIO()
        image.convert("RGBA").save(out, "PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def chunk_size(layout: Layout) -> int:
    return layout.per_page * CHUNK_PAGES


def _html(tenant: Tenant, layout: Layout, items: Sequence[Item], logo: str | None) -> str:
    locale = money_locale()
    pages = [items[i : i + layout.per_page] for i in range(0, len(items), layout.per_page)]
    return render_template(
        TEMPLATE,
        tenant=tenant,
        layout=layout,
        pages=[
            [(item, Markup(qr_data_uri(item.url)), _expiry(item, locale)) for item in page]
            for page in pages
        ],
        logo=logo,
    )


def _expiry(item: Item, locale: str) -> str | None:
    if item.expires_on is None:
        return None
    return format_skeleton("yMMMd", item.expires_on, locale=locale)  # "31 mar 2027"


def write_pdf(
    tenant: Tenant,
    layout: Layout,
    items: Iterable[Item],
    out: IO[bytes],
    *,
    total: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write the sheet of `items` in `layout` as a PDF to `out`, in the merchant's
    language; call `progress(done, total)` after each part. Returns how many QRs
    were drawn. Runs in an app context with `g.tenant` set (a request or a job)."""
    import weasyprint  # slow to import: only when a sheet is printed
    from pypdf import PdfReader, PdfWriter
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols={"data"})
    writer = PdfWriter()
    logo = logo_data_uri(tenant)
    size = chunk_size(layout)
    done = 0
    chunk: list[Item] = []
    with force_locale(tenant.language):

        def flush() -> None:
            nonlocal done
            html = _html(tenant, layout, chunk, logo)
            part = weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf()
            writer.append(PdfReader(io.BytesIO(part)))
            done += len(chunk)
            chunk.clear()
            if progress is not None:
                progress(done, max(total or 0, done))

        for item in items:
            chunk.append(item)
            if len(chunk) == size:
                flush()
        if chunk or not done:
            flush()
    writer.add_metadata({"/Title": tenant.name, "/Producer": "Premia"})
    writer.write(out)
    return done


def render_pdf(tenant: Tenant, layout: Layout, items: Sequence[Item]) -> bytes:
    """The sheet as bytes (small sheets, tests); large ones go to a file by a job."""
    out = io.BytesIO()
    write_pdf(tenant, layout, items, out, total=len(items))
    return out.getvalue()


def write_file(
    tenant: Tenant,
    layout: Layout,
    items: Iterable[Item],
    path: Path,
    *,
    total: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write the sheet to `path` (a temporary name first: a half-written file is
    never offered for download)."""
    partial = path.with_name(path.name + ".part")
    with partial.open("wb") as out:
        count = write_pdf(tenant, layout, items, out, total=total, progress=progress)
    partial.replace(path)
    return count
