"""Importar in the panel: upload, the preview with the columns the merchant may change,
start, the progress and the report, the result CSV (downloaded and e-mailed, formulas
neutralised); refusals shown on the form; managers only; another merchant's imports
answer 404."""

from __future__ import annotations

import csv
import html
import io
import re
from email.header import decode_header, make_header

from sqlalchemy import select

from core.loyalty.members import Membership
from core.loyalty.staff import Role
from core.testing.weblogin import login, owner_email, token
from plugins.csv_import.models import Import

URL = "/t/cafe/panel/import/"


def upload(client, data: bytes, name: str = "clientes.csv", kind: str = "customers"):
    return client.post(
        URL,
        data={"csrf_token": token(client, URL), "kind": kind, "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def text_of(page) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.get_data(as_text=True))).split())


FILE = (
    "nombre;apellidos;correo;celular;puntos\r\n"
    "Ana;Núñez;ana@example.com;300;1.500\r\n"
    "=SUM(A1);Pérez;formula@example.com;301;\r\n"
    "Bea;Ruiz;no-es-correo;302;5\r\n"
).encode("utf-8-sig")


def test_upload_preview_change_a_column_import_and_read_the_report(client, db, shop, smtp_server):
    login(client, db, shop)
    answer = upload(client, FILE)
    assert answer.status_code == 302
    preview = client.get(answer.headers["Location"])
    page = preview.get_data(as_text=True)
    # The columns as matched: "celular" is the phone; the first rows as parsed.
    assert re.search(r'id="column_phone">.*?<option value="3" selected>celular', page, re.S)
    assert "=SUM(A1)" in html.unescape(page) and "1.500" in page
    # The merchant says the phone column is not to be imported.
    answer = client.post(
        answer.headers["Location"],
        data={
            "csrf_token": token(client, answer.headers["Location"]),
            "column_first_name": "0",
            "column_last_name": "1",
            "column_email": "2",
            "column_phone": "",
            "column_points": "4",
        },
    )
    assert answer.status_code == 302
    report = text_of(client.get(answer.headers["Location"]))
    assert "3 de 3 filas" in report and "Terminada" in report
    assert "Creado 2" in report and "Rechazado 1" in report
    assert "4 correo Ingresa un correo electrónico válido." in report
    with db(shop) as session:
        members = {m.email: m for m in session.scalars(select(Membership))}
        imported = session.scalar(select(Import))
    assert members["ana@example.com"].balance == 1500
    assert members["ana@example.com"].phone is None  # the column was left out
    assert members["formula@example.com"].first_name == "=SUM(A1)"  # stored as written
    download = client.get(f"{URL}{imported.id}/result.csv")
    assert download.status_code == 200
    rows = list(
        csv.reader(io.StringIO(download.get_data(as_text=True).lstrip("\ufeff")), delimiter=";")
    )
    assert rows[0] == [
        "Fila",
        "nombre",
        "apellidos",
        "correo",
        "celular",
        "puntos",
        "Estado",
        "Columna",
        "Motivo",
    ]
    assert rows[1][:2] == ["2", "Ana"] and rows[1][6] == "Creado"
    assert rows[2][1] == "'=SUM(A1)"  # neutralised in the export
    assert rows[3][6:] == ["Rechazado", "correo", "Ingresa un correo electrónico válido."]
    # The same report e-mailed to the uploader, in the merchant's language.
    owner = owner_email(db, shop)
    (mail,) = [m for m in smtp_server.handler.wait_for(1) if m["To"] == owner]
    subject = str(make_header(decode_header(mail["Subject"])))
    assert subject == "Terminó la importación de clientes.csv"
    attachment = next(p for p in mail.walk() if p.get_filename() == "clientes-result.csv")
    assert "'=SUM(A1)" in attachment.get_payload(decode=True).decode("utf-8")


def test_bad_files_are_refused_on_the_form_and_nothing_is_kept(client, db, shop):
    login(client, db, shop)
    empty = upload(client, b"")
    assert empty.status_code == 200 and 'role="alert"' in empty.get_data(as_text=True)
    useless = upload(client, b"color;talla\r\nrojo;M\r\n")
    assert "El archivo no tiene una columna de correos" in html.unescape(
        useless.get_data(as_text=True)
    )
    with db(shop) as session:
        assert session.scalar(select(Import.id)) is None


def test_employees_may_not_import(client, db, shop):
    login(client, db, shop, Role.EMPLOYEE)
    assert client.get(URL).status_code == 403


def test_another_merchants_import_answers_404(client, db, shop, make_tenant):
    other = make_tenant(slug="otro", plan="white-label")
    login(client, db, shop)
    answer = upload(client, FILE)
    theirs_id = int(answer.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    other_client = client.application.test_client()
    login(other_client, db, other)
    for path in ("", "/result.csv"):
        assert other_client.get(f"/t/otro/panel/import/{theirs_id}{path}").status_code == 404
    assert other_client.post(f"/t/otro/panel/import/{theirs_id}", data={}).status_code in (400, 404)
    with db(shop) as session:
        assert session.get(Import, theirs_id).status == "preview"  # nothing changed
