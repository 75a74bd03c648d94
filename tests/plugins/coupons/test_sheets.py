"""Printed sheets: every layout rasterised (pdftoppm) and every QR decoded (zxing-cpp)
to its own claim URL; the merchant's logo, points, instruction, expiry and code on
paper in the merchant's language; a print made from the panel by a job on the bulk
queue, with its progress, downloaded by the merchant's managers only; another
merchant's ids answer 404 and change nothing."""

from __future__ import annotations

import io
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pikepdf
import pytest
import zxingcpp
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import func, select

from core.host.db import clock_at, platform_session
from core.loyalty.staff import Role
from core.testing.weblogin import csrf_token, login
from plugins.coupons import print_jobs, sheets
from plugins.coupons.claims import claim_url
from plugins.coupons.codes import new_code, printed
from plugins.coupons.models import Campaign, Code
from plugins.coupons.print_jobs import PrintJob, Status
from tenants.models import Tenant
from tests.plugins.coupons.conftest import TODAY

PURPLE = (0x6D, 0x28, 0xD9)


@pytest.fixture(autouse=True)
def uploads(app, tmp_path_factory):
    """A folder of uploads of the test's own: files left by another test never count."""
    app.config["PREMIA_UPLOAD_FOLDER"] = str(tmp_path_factory.mktemp("uploads"))


def decoded(pdf: bytes, tmp_path: Path, dpi: int = 150) -> list[str]:
    """Every QR code found on the PDF's pages, rasterised as a printer would."""
    source = tmp_path / "sheet.pdf"
    source.write_bytes(pdf)
    for old in tmp_path.glob("page-*.png"):
        old.unlink()
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-png", str(source), str(tmp_path / "page")], check=True
    )
    found = []
    for page in sorted(tmp_path.glob("page-*.png")):
        with Image.open(page) as image:
            found += [
                b.text for b in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
            ]
    return found


def text_of(pdf: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def with_logo(app, tenant) -> None:
    """A purple square logo stored as the settings page stores one."""
    folder = Path(app.config["PREMIA_UPLOAD_FOLDER"]) / str(tenant.id)
    folder.mkdir(parents=True, exist_ok=True)
    name = "ab" * 16 + ".png"
    Image.new("RGB", (600, 600), PURPLE).save(folder / name)
    with platform_session(app.extensions["premia"].sessions) as session:
        session.get(Tenant, tenant.id).logo = name
        session.commit()
    tenant.logo = name


def items_of(db, shop, campaign_id, first=None, last=None, copies=1):
    with db(shop) as session:
        tenant = session.get(Tenant, shop.id)
        campaign = session.get(Campaign, campaign_id)
        return list(print_jobs.coupon_items(session, tenant, campaign, first, last, copies))


@pytest.mark.parametrize("layout", list(sheets.LAYOUTS))
def test_every_qr_of_every_layout_decodes_to_its_own_claim_url(
    app, shop, make_campaign, db, tmp_path, layout
):
    chosen = sheets.LAYOUTS[layout]
    count = chosen.per_page + 1 if chosen.per_page > 1 else 2  # two pages, the last not full
    campaign, codes = make_campaign(shop, count=count, points=150)
    items = items_of(db, shop, campaign.id)
    with app.test_request_context(), db(shop) as session:
        from flask import g

        g.tenant = session.get(Tenant, shop.id)

        g.db = session  # as in a request: one connection
        pdf = sheets.render_pdf(g.tenant, chosen, items)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 2
    width, height = (float(v) * 25.4 / 72 for v in reader.pages[0].mediabox[2:])
    assert (round(width), round(height)) == (round(chosen.page_width), round(chosen.page_height))
    with app.app_context():
        expected = sorted(claim_url(shop, code) for code in codes)
    assert sorted(decoded(pdf, tmp_path)) == expected


def test_a_coupon_shows_points_instruction_expiry_and_code_in_the_merchants_language(
    app, shop, make_campaign, db, tmp_path
):
    with_logo(app, shop)
    campaign, codes = make_campaign(
        shop, count=2, points=1500, ends_on=datetime(2027, 3, 31).date()
    )
    items = items_of(db, shop, campaign.id)
    with app.test_request_context(), db(shop) as session:
        from flask import g

        g.tenant = session.get(Tenant, shop.id)

        g.db = session  # as in a request: one connection
        pdf = sheets.render_pdf(g.tenant, sheets.LAYOUTS["labels-8"], items)
    text = " ".join(text_of(pdf).split())
    assert "1.500 puntos" in text  # Colombian Spanish: the merchant's language and locale
    assert "Escanea este código con la cámara de tu teléfono" in text
    assert "Válido hasta el 31 de mar de 2027" in text
    for code in codes:
        assert f"{code[:5]}-{code[5:]}" in text
    # The logo (drawn once, shrunk) is on the page, in the merchant's colour.
    source = tmp_path / "logo.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "50", "-f", "1", "-l", "1", "-png", str(source), str(tmp_path / "p")],
        check=True,
    )
    with Image.open(next(tmp_path.glob("p-*.png"))) as page:
        colours = page.convert("RGB").getcolors(1_000_000)
    near = [
        n for n, rgb in colours if max(abs(a - b) for a, b in zip(rgb, PURPLE, strict=True)) < 24
    ]
    purple = sum(near)
    assert purple > 200


def test_the_sheet_follows_the_merchants_language(app, make_tenant, make_campaign, db):
    shop = make_tenant(slug="loja", name="Loja", plan="white-label", language="pt_BR", country="BR")
    campaign, _codes = make_campaign(shop, count=1, points=20, ends_on=datetime(2027, 1, 5).date())
    items = items_of(db, shop, campaign.id)
    with app.test_request_context(), db(shop) as session:
        from flask import g

        g.tenant = session.get(Tenant, shop.id)

        g.db = session  # as in a request: one connection
        text = " ".join(
            text_of(sheets.render_pdf(g.tenant, sheets.LAYOUTS["ticket"], items)).split()
        )
    assert "20 pontos" in text and "Válido até 5 de jan. de 2027" in text


def test_codes_are_chosen_by_their_local_creation_day_and_used_ones_left_out(
    app, shop, make_campaign, db
):
    # 03:00 UTC on 10 November is still the 9th in Bogotá.
    with clock_at(datetime(2026, 11, 10, 3, tzinfo=UTC)):
        first, _ninth = make_campaign(shop, count=2, starts_on=datetime(2026, 11, 1).date())
    with clock_at(datetime(2026, 11, 10, 15, tzinfo=UTC)), db(shop) as session:
        tenth = [new_code() for _ in range(3)]
        session.add_all(Code(campaign_id=first.id, code=c) for c in tenth)
        session.commit()
    day = datetime(2026, 11, 10).date()
    with app.app_context():
        assert sorted(i.url for i in items_of(db, shop, first.id, day, day)) == sorted(
            claim_url(shop, c) for c in tenth
        )
        assert len(items_of(db, shop, first.id, day - timedelta(days=1), day)) == 5
        assert len(items_of(db, shop, first.id, None, day - timedelta(days=1))) == 2
        assert len(items_of(db, shop, first.id, day, None, copies=3)) == 9


# --- the panel: a print by a job, its progress, the download ---------------------------


def start(client, shop, **fields):
    page = client.get(f"/t/{shop.slug}/panel/coupons/print/").get_data(as_text=True)
    data = {"csrf_token": csrf_token(page), "layout": "labels-24", **fields}
    return client.post(f"/t/{shop.slug}/panel/coupons/print/", data=data)


def jobs_of(db, tenant):
    with db(tenant) as session:
        return session.scalars(select(PrintJob).order_by(PrintJob.id)).all()


def test_a_print_is_drawn_by_a_job_and_downloaded(client, app, shop, make_campaign, db, tmp_path):
    campaign, codes = make_campaign(shop, count=30)
    login(client, db, shop)
    answer = start(client, shop, source=f"c{campaign.id}", first_day=TODAY.isoformat())
    assert answer.status_code == 302
    (job,) = jobs_of(db, shop)
    assert (job.status, job.done, job.total, job.layout) == (Status.READY, 30, 30, "labels-24")
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert (
        'id="download"' in page and "Refresh" not in client.get(answer.headers["Location"]).headers
    )
    pdf = client.get(f"/t/cafe/panel/coupons/print/{job.id}/download")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert "attachment" in pdf.headers["Content-Disposition"]
    assert len(PdfReader(io.BytesIO(pdf.data)).pages) == 2
    assert sorted(decoded(pdf.data, tmp_path)) == sorted(claim_url(shop, c) for c in codes)
    # Stored in the merchant's folder, never served as an upload.
    stored = Path(app.config["PREMIA_UPLOAD_FOLDER"]) / str(shop.id) / "coupons-sheets" / job.file
    assert stored.is_file()
    assert client.get(f"/t/cafe/uploads/coupons-sheets/{job.file}").status_code == 404
    assert client.get(f"/t/cafe/uploads/{job.file}").status_code == 404
    # Run again (a retried worker): the file is drawn once.
    files = sorted(stored.parent.iterdir())
    with app.app_context():
        print_jobs.draw_sheet(shop.id, job.id)
    assert sorted(stored.parent.iterdir()) == files


def test_the_progress_shows_while_the_job_runs(client, shop, make_campaign, db):
    campaign, _codes = make_campaign(shop, count=1)
    with db(shop) as session:
        session.add(
            PrintJob(
                campaign_id=campaign.id,
                layout="labels-24",
                status=Status.RUNNING,
                done=240,
                total=1000,
            )
        )
        session.commit()
    (job,) = jobs_of(db, shop)
    login(client, db, shop)
    answer = client.get(f"/t/cafe/panel/coupons/print/{job.id}")
    page = answer.get_data(as_text=True)
    assert answer.headers["Refresh"] == "3"
    assert 'max="1000" value="240"' in page and "240 de 1.000" in page
    assert client.get(f"/t/cafe/panel/coupons/print/{job.id}/download").status_code == 404


def test_a_page_qr_is_printed_in_copies(client, app, shop, db, tmp_path):
    from plugins.coupons import page_links

    with db(shop) as session:
        link = page_links.create_page_link(session, "Menú", "https://menu.example/carta")
        session.commit()
        url = page_links.short_url(shop, link)
    login(client, db, shop)
    answer = start(client, shop, source=f"p{link.id}", layout="labels-4")
    assert answer.status_code == 302
    (job,) = jobs_of(db, shop)
    assert (job.total, job.copies, job.status) == (4, 4, Status.READY)  # a full page by default
    pdf = client.get(f"/t/cafe/panel/coupons/print/{job.id}/download").data
    assert decoded(pdf, tmp_path) == [url] * 4
    assert "Menú" in text_of(pdf)


def test_bad_input_is_refused_in_the_users_language_and_writes_nothing(
    client, shop, make_campaign, db
):
    campaign, _codes = make_campaign(shop, count=2)
    login(client, db, shop)
    cases = {
        "el último día no puede ser anterior al primero": {
            "first_day": TODAY.isoformat(),
            "last_day": (TODAY - timedelta(days=1)).isoformat(),
        },
        "no se crearon códigos para imprimir": {
            "first_day": (TODAY + timedelta(days=1)).isoformat()
        },
        "elige uno de los formatos": {"layout": "labels-99"},
        "copias deben ser un número entero": {"copies": "0"},
    }
    for message, fields in cases.items():
        answer = start(client, shop, source=f"c{campaign.id}", **fields)
        assert answer.status_code == 422, fields
        assert message in answer.get_data(as_text=True).lower(), fields
    answer = start(client, shop, source="x1")
    assert answer.status_code == 422
    with db(shop) as session:
        session.get(Campaign, campaign.id).active = False
        session.commit()
    answer = start(client, shop, source=f"c{campaign.id}")
    assert answer.status_code == 422
    assert "esta campaña está desactivada" in answer.get_data(as_text=True).lower()
    assert jobs_of(db, shop) == []


def test_another_merchants_ids_answer_404_and_change_nothing(
    client, app, shop, other, make_campaign, db
):
    theirs, _codes = make_campaign(other, count=2)
    mine, _codes = make_campaign(shop, count=2)
    with db(other) as session:
        job = PrintJob(campaign_id=theirs.id, layout="poster", total=2)
        session.add(job)
        session.commit()
    with app.app_context():
        print_jobs.draw_sheet(other.id, job.id)
    login(client, db, shop)
    assert start(client, shop, source=f"c{theirs.id}").status_code == 404
    assert client.get(f"/t/cafe/panel/coupons/print/{job.id}").status_code == 404
    assert client.get(f"/t/cafe/panel/coupons/print/{job.id}/download").status_code == 404
    assert start(client, shop, source=f"c{2**40}").status_code == 404
    assert jobs_of(db, shop) == []
    with db(other) as session:
        assert session.scalar(select(func.count(PrintJob.id))) == 1
    assert mine.id != theirs.id


def test_only_the_merchants_managers_print(client, shop, make_campaign, db):
    _campaign, _codes = make_campaign(shop, count=1)
    assert client.get("/t/cafe/panel/coupons/print/").status_code == 302  # to the login
    login(client, db, shop, Role.EMPLOYEE)
    assert client.get("/t/cafe/panel/coupons/print/").status_code == 403
    assert client.post("/t/cafe/panel/coupons/print/", data={}).status_code in (400, 403)
    assert jobs_of(db, shop) == []


def test_a_sheet_is_drawn_part_by_part_and_tells_its_progress(
    app, shop, make_campaign, db, tmp_path, monkeypatch
):
    monkeypatch.setattr(sheets, "CHUNK_PAGES", 1)  # a part per page: 24 labels
    campaign, codes = make_campaign(shop, count=50)
    items = items_of(db, shop, campaign.id)
    seen = []
    with app.test_request_context(), db(shop) as session:
        from flask import g

        g.tenant = session.get(Tenant, shop.id)

        g.db = session  # as in a request: one connection
        out = tmp_path / "sheet.pdf"
        drawn = sheets.write_file(
            g.tenant,
            sheets.LAYOUTS["labels-24"],
            iter(items),
            out,
            total=50,
            progress=lambda done, total: seen.append((done, total)),
        )
    assert drawn == 50 and seen == [(24, 50), (48, 50), (50, 50)]
    assert not out.with_name("sheet.pdf.part").exists()
    pdf = out.read_bytes()
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 3
    with app.app_context():
        assert sorted(decoded(pdf, tmp_path)) == sorted(claim_url(shop, c) for c in codes)


# --- two layers: the backs laid out once, the QRs and codes laid over them -----------------


def render(app, db, shop, layout, items) -> bytes:
    with app.test_request_context(), db(shop) as session:
        from flask import g

        g.tenant = session.get(Tenant, shop.id)
        g.db = session  # as in a request: one connection
        return sheets.render_pdf(g.tenant, layout, items)


def cells_of(pdf: bytes, layout: sheets.Layout, page: int, tmp_path: Path) -> list[tuple]:
    """Each cell of `page` (from 1) on its own: the QRs decoded in it, and its text."""
    source = tmp_path / "cells.pdf"
    source.write_bytes(pdf)
    dpi = 150
    raster = tmp_path / "cells"
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-f", str(page), "-l", str(page), "-png", "-singlefile"]
        + [str(source), str(raster)],
        check=True,
    )
    width, height = (v * 72 / 25.4 for v in (layout.cell_width, layout.cell_height))
    cells = []
    with Image.open(raster.with_suffix(".png")) as image:
        for row in range(layout.rows):
            for column in range(layout.columns):
                x, y = column * width, row * height
                box = tuple(round(v * dpi / 72) for v in (x, y, x + width, y + height))
                qrs = zxingcpp.read_barcodes(image.crop(box), formats=zxingcpp.BarcodeFormat.QRCode)
                text = subprocess.run(
                    ["pdftotext", "-r", "72", "-f", str(page), "-l", str(page)]
                    + ["-x", str(int(x)), "-y", str(int(y)), "-W", str(int(width))]
                    + ["-H", str(int(height)), str(source), "-"],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                cells.append(([q.text for q in qrs], " ".join(text.split())))
    return cells


@pytest.mark.parametrize("layout", ["labels-8", "labels-4"])
def test_each_cell_shows_its_own_qr_code_points_and_expiry(app, shop, db, tmp_path, layout):
    # Codes of an uploaded list may each have their points and expiry: one page, many looks.
    chosen = sheets.LAYOUTS[layout]
    with app.app_context():
        items = [
            sheets.Item(
                url=claim_url(shop, code),
                code=printed(code),
                points=(10, 250, 3000)[n % 3],
                expires_on=datetime(2027, 1 + n % 2, 15).date(),
            )
            for n, code in enumerate(new_code() for _ in range(chosen.per_page))
        ]
    pdf = render(app, db, shop, chosen, items)
    cells = cells_of(pdf, chosen, 1, tmp_path)
    assert len(cells) == len(items)
    for item, (qrs, text) in zip(items, cells, strict=True):
        assert qrs == [item.url]
        assert item.code in text
        assert f"{item.points:,} puntos".replace(",", ".") in text
        assert f"{item.expires_on.day} de {('ene', 'feb')[item.expires_on.month - 1]}" in text
    # The code is printed on its own line, under the expiry, as the whole coupon was.
    assert all(text.endswith(item.code) for item, (_q, text) in zip(items, cells, strict=True))


def test_pages_that_look_alike_share_one_back_held_once(app, shop, make_campaign, db, tmp_path):
    campaign, codes = make_campaign(shop, count=10, points=150)
    items = items_of(db, shop, campaign.id)
    pdf = render(app, db, shop, sheets.LAYOUTS["labels-4"], items)
    with pikepdf.open(io.BytesIO(pdf)) as sheet:
        forms = [
            o.objgen
            for o in sheet.objects
            if isinstance(o, pikepdf.Stream) and o.get("/Subtype") == "/Form"
        ]
        drawn = []  # the forms each page draws
        for page in sheet.pages:
            xobjects = page.Resources.XObject
            names = [
                operands[0]
                for operands, operator in pikepdf.parse_content_stream(page)
                if str(operator) == "Do"
            ]
            drawn.append(
                [xobjects[name].objgen for name in names if xobjects[name].Subtype == "/Form"]
            )
    # Three pages: two full ones drawn over one back, the last (2 coupons) over its own.
    assert len(forms) == 2
    assert len(drawn) == 3 and all(len(page) == 1 for page in drawn)
    assert drawn[0] == drawn[1] != drawn[2]
    assert {page[0] for page in drawn} == set(forms)
    with app.app_context():
        assert sorted(decoded(pdf, tmp_path)) == sorted(claim_url(shop, c) for c in codes)


def test_backs_are_drawn_again_when_more_looks_than_are_kept(app, shop, db, tmp_path, monkeypatch):
    monkeypatch.setattr(sheets, "BACKS_KEPT", 1)
    monkeypatch.setattr(sheets, "CHUNK_PAGES", 1)
    chosen = sheets.LAYOUTS["labels-4"]
    with app.app_context():
        items = [
            sheets.Item(url=claim_url(shop, code), code=printed(code), points=points)
            for points in (10, 20, 10, 30)
            for code in (new_code() for _ in range(chosen.per_page))
        ]
    pdf = render(app, db, shop, chosen, items)
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]
    for number, points in enumerate((10, 20, 10, 30)):
        on_page = items[number * chosen.per_page : (number + 1) * chosen.per_page]
        assert pages[number].count(f"{points} puntos") == chosen.per_page
        assert all(item.code in pages[number] for item in on_page)
    assert sorted(decoded(pdf, tmp_path)) == sorted(item.url for item in items)


def test_a_sheet_of_nothing_is_one_blank_page(app, shop, db):
    pdf = render(app, db, shop, sheets.LAYOUTS["ticket"], [])
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1 and reader.pages[0].extract_text() == ""
    width, height = (float(v) * 25.4 / 72 for v in reader.pages[0].mediabox[2:])
    assert (round(width), round(height)) == (80, 120)
