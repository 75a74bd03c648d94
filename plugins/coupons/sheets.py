"""Printable sheets of QR codes (PDF): a campaign's coupons, or copies of a page QR.

Five layouts: a poster (1 per A4 page), labels 4, 8 and 24 per A4 page, and an
80 mm ticket roll (one ticket per page, as a roll printer cuts them). Each coupon
shows the merchant's logo and colours, the points, a short instruction in the
merchant's language, the expiry in the merchant's locale, the code to type and the
QR, which carries the claim page's URL (`claims.claim_url`).

Speed (bench/coupons.py): laying out each coupon's text was most of a sheet's
time, and it is the same on every coupon of a campaign. So a page is drawn in two
layers: its back (cells, logo, points, instruction, expiry, with the QR and the
code left blank) is laid out once for all the pages that look alike
(`sheet.html`), and only the QRs and codes are laid out per page, each a box put
where the back's anchors say (`codes.html`); pikepdf lays each page of codes over
its back, which the PDF holds once (a Form XObject) however many pages show it.
A QR is drawn with a fixed mask (segno otherwise tries all eight and scores each)
as a one-pixel-per-module PNG that the PDF scales up without smoothing, so it
prints sharp at any size; the logo is shrunk once and named once in the
stylesheet. WeasyPrint lays out a few pages at a time (`CHUNK_PAGES`), so memory
stays flat however many coupons there are. WeasyPrint fetches nothing but data:
URIs: a sheet is drawn from our templates and the merchant's data, never from
the web.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import IO

import segno
from babel.dates import format_skeleton
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from core.sdk import Tenant, money_locale, render_template, upload_folder

TEMPLATE = "coupons/sheets/sheet.html"  # a sheet whole, or its back
CODES_TEMPLATE = "coupons/sheets/codes.html"  # the QRs and codes laid over a back
QR_MASK = 4  # any fixed mask scans; choosing the "best" one costs most of a QR's time
QR_BORDER = 4  # the quiet zone scanners need, in modules, inside the image
CHUNK_PAGES = 10  # pages laid out per WeasyPrint run: memory flat, few runs
LOGO_PIXELS = 400  # the logo's longest side on paper: sharp at 300 dpi in 34 mm
BACKS_KEPT = 16  # backs kept for the next parts: a campaign needs two (full, last page)
BLANK = "\u00a0"  # a back's code line: one line of the code's font, no text


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


def sheet_html(
    tenant: Tenant,
    layout: Layout,
    items: Sequence[Item],
    logo: str | None,
    qr: Callable[[str], str] | None = None,
) -> str:
    """The HTML of a sheet of `items`: whole, each QR drawn by `qr`, or without `qr`
    its back, each QR and code a blank box named as an anchor (q0-0, k0-0: page 0, coupon 0)."""
    locale = money_locale()
    return render_template(
        TEMPLATE,
        tenant=tenant,
        layout=layout,
        pages=[
            [(item, Markup(qr(item.url)) if qr else None, _expiry(item, locale)) for item in page]
            for page in _pages(layout, items)
        ],
        logo=logo,
    )


def _pages(layout: Layout, items: Sequence[Item]) -> list[Sequence[Item]]:
    return [items[i : i + layout.per_page] for i in range(0, len(items), layout.per_page)]


def _blank(item: Item) -> Item:
    """What `item` shows on the back: all but its QR and code."""
    return replace(item, url="", code=BLANK if item.code else None)


def _expiry(item: Item, locale: str) -> str | None:
    if item.expires_on is None:
        return None
    return format_skeleton("yMMMd", item.expires_on, locale=locale)  # "31 mar 2027"


Spot = tuple[float, float, float, float]  # a box on the page: x1, y1, x2, y2 in CSS px


@dataclass
class _Back:
    form: object  # pikepdf Form XObject of the output PDF: the back drawn once, shown per page
    spots: list[tuple[Spot, Spot | None]]  # each coupon's QR and code boxes


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
    import pikepdf
    import weasyprint  # slow to import: only when a sheet is printed
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols={"data"})
    sheet = pikepdf.new()
    # The PDFs the sheet's pages were copied from: qpdf reads their data when saving.
    parts: list[pikepdf.Pdf] = []
    logo = logo_data_uri(tenant)
    size = chunk_size(layout)
    # A page's back by what its coupons show but their QRs and codes: a campaign's
    # pages all look alike but the last, which has fewer coupons.
    backs: dict[tuple[Item, ...], _Back] = {}
    done = 0
    chunk: list[Item] = []
    with force_locale(tenant.language):

        def draw_backs(looks: list[tuple[Item, ...]]) -> None:
            missing = list(dict.fromkeys(look for look in looks if look not in backs))
            if not missing:
                return
            if len(backs) + len(missing) > BACKS_KEPT:
                backs.clear()  # few kept: pages with many looks (per-code points)
                missing = list(dict.fromkeys(looks))
            html = sheet_html(tenant, layout, [item for look in missing for item in look], logo)
            document = weasyprint.HTML(string=html, url_fetcher=fetcher).render()
            parts.append(pikepdf.open(io.BytesIO(document.write_pdf())))
            drawn = zip(missing, document.pages, parts[-1].pages, strict=True)
            for index, (look, laid_out, page) in enumerate(drawn):
                anchors = laid_out.anchors
                spots = [
                    (anchors[f"q{index}-{n}"], anchors.get(f"k{index}-{n}"))
                    for n in range(len(look))
                ]
                # One Form XObject: every page of this look shows it, the PDF holds it once.
                backs[look] = _Back(sheet.copy_foreign(page.as_form_xobject()), spots)

        def flush() -> None:
            nonlocal done
            pages = _pages(layout, chunk)
            looks = [tuple(_blank(item) for item in page) for page in pages]
            draw_backs(looks)
            html = render_template(
                CODES_TEMPLATE,
                layout=layout,
                pages=[
                    [
                        (Markup(qr_data_uri(item.url)), item.code, *spot)
                        for item, spot in zip(page, backs[look].spots, strict=True)
                    ]
                    for page, look in zip(pages, looks, strict=True)
                ],
            )
            part = weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf()
            parts.append(pikepdf.open(io.BytesIO(part)))
            for page, look in zip(parts[-1].pages, looks, strict=True):
                sheet.pages.append(page)
                sheet.pages[-1].add_underlay(backs[look].form)
            done += len(chunk)
            chunk.clear()
            if progress is not None:
                progress(done, max(total or 0, done))

        for item in items:
            chunk.append(item)
            if len(chunk) == size:
                flush()
        if chunk:
            flush()
    if not done:
        sheet.add_blank_page(
            page_size=(layout.page_width * 72 / 25.4, layout.page_height * 72 / 25.4)
        )
    sheet.docinfo["/Title"] = tenant.name
    sheet.docinfo["/Producer"] = "Premia"
    sheet.save(out)
    for part in parts:
        part.close()
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
