"""CSV import in a real browser against a real server: the owner uploads a file saved
by a Spanish-locale Excel (";", Windows-1252, "1.250"), reads the preview and the
columns as matched, changes one, imports and reads the report; then the progress of
an import still running: a bar at rows done / total that moves on its own, and the
report once it ends."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from core.loyalty.members import Membership
from core.testing.factories import PASSWORD
from core.testing.weblogin import owner_email
from plugins.csv_import import importing
from plugins.csv_import.models import RUNNING, Import
from tests.browser.conftest import DESKTOP, csp_violations

FILE = (
    "Nombres;Apellidos;Correo;Cédula;Puntos\r\n"
    "José;Peña;jose@example.com;1020;1.250\r\n"
    "Ana;Núñez;ana@example.com;1021;300\r\n"
    "Bea;Ruiz;no-es-correo;1022;5\r\n"
).encode("cp1252")


def _log_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/t/cafe/login")
    page.get_by_label("Correo electrónico").fill(email)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()


def test_preview_mapping_import_and_progress(
    live_server, browser, make_tenant, db, tmp_path, monkeypatch
):
    shop = make_tenant(slug="cafe", name="Café Central", plan="white-label")
    context = browser.new_context(**DESKTOP, locale="es-CO")
    refused = csp_violations(context)
    page = context.new_page()
    _log_in(page, live_server.url, owner_email(db, shop))
    page.goto(f"{live_server.url}/t/cafe/panel/import/")
    path = tmp_path / "clientes.csv"
    path.write_bytes(FILE)
    page.get_by_label("Archivo CSV").set_input_files(str(path))
    page.get_by_role("button", name="Vista previa").click()

    # The preview: the rows as parsed (accents of Windows-1252 read right), the columns.
    preview = page.locator("#preview")
    expect(preview).to_contain_text("José")
    expect(preview).to_contain_text("1.250")
    expect(page.locator("#column_document_id")).to_have_value("3")
    expect(page.locator("#column_points")).to_have_value("4")
    page.locator("#column_document_id").select_option(label="— no se importa —")
    page.get_by_role("button", name="Importar").click()

    report = page.locator("#report")
    expect(report).to_contain_text("Creado")
    expect(page.locator("#count-created")).to_have_text("2")
    expect(page.locator("#count-refused")).to_have_text("1")
    expect(page.locator("#refusals")).to_contain_text("Correo")
    with db(shop) as session:
        jose = session.scalar(select(Membership).where(Membership.first_name == "José"))
        assert jose.balance == 1250 and jose.document_id is None  # the column left out

    # An import still running: the bar shows rows done / total and moves on its own.
    big = tmp_path / "mas.csv"
    big.write_bytes(
        ("Nombres;Correo\r\n" + "".join(f"N{n};n{n}@example.com\r\n" for n in range(10))).encode(
            "utf-8"
        )
    )
    with db(shop) as session:
        folder = importing.upload_folder(shop.id)
        stored = folder / "mas.csv"
        stored.write_bytes(big.read_bytes())
        imported = importing.accept(
            session, shop, kind="customers", path=stored, filename="mas.csv"
        )
        importing.start(session, imported)
        session.commit()
        import_id = imported.id
    # The worker is killed after four rows, each committed on its own.
    # (Inside `values`: every path reads each row through it, row by row or set-based.)
    real, calls = importing.CustomerRows.values, []

    def dying(self, number, cells, **kwargs):
        calls.append(number)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(self, number, cells, **kwargs)

    monkeypatch.setattr(importing.CustomerRows, "values", dying)
    with db(shop) as session, pytest.raises(KeyboardInterrupt):
        importing.run(session, shop, session.get(Import, import_id), commit_every=1)
    monkeypatch.undo()
    with db(shop) as session:
        assert session.get(Import, import_id).status == RUNNING
    page.goto(f"{live_server.url}/t/cafe/panel/import/{import_id}")
    bar = page.locator("#progress progress")
    expect(bar).to_have_attribute("value", "4")
    expect(bar).to_have_attribute("max", "10")
    expect(page.locator("#progress")).to_contain_text("4 de 10 filas")
    with db(shop) as session:
        importing.run(session, shop, session.get(Import, import_id))  # resumed: the rest
    expect(page.locator("#progress")).to_contain_text("10 de 10 filas", timeout=10_000)
    expect(page.locator("#count-created")).to_have_text("10")
    assert refused == []
