"""A CSV of the merchant's own codes: uploaded in the panel (white-label), processed
by a job on the bulk queue, the same file e-mailed back to the uploader with a status
column per row in the merchant's language; the dialects Excel writes; a file run
twice creates nothing twice; the free plan has no upload."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from sqlalchemy import func, select

from core.loyalty.staff import Role
from core.testing.weblogin import csrf_token, flashes, login, owner_email
from plugins.coupons import uploads
from plugins.coupons.models import Code
from tests.core.customer_app.test_account_pages import subject

ROWS = [
    ("Código", "Puntos", "Vence"),
    ("PROMO-2027-A", "1.250", "31/12/2027"),  # es_CO: one thousand two hundred fifty
    ("promo2027b", "", ""),  # the campaign's points and dates
    ("PROMO2027A", "10", ""),  # the same code again, as typed differently
    ("{taken}", "", ""),  # a code the campaign already has
    ("no!", "", ""),
    ("PROMO2027C", "diez", ""),
    ("PROMO2027D", "", "mañana"),
    ("", "5", ""),
]
STATUSES = [
    "creado",
    "creado",
    "duplicado",
    "duplicado",
    "inválido: un código tiene de 4 a 24 letras y dígitos",
    "inválido: los puntos deben ser un número entero de 1 a 1.000.000.000",
    "inválido: el vencimiento no es una fecha",
    "inválido: sin código",
]


def file_bytes(taken: str, delimiter: str, encoding: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    for row in ROWS:
        writer.writerow([cell.replace("{taken}", taken) for cell in row])
    return buffer.getvalue().encode(encoding)


def upload(client, campaign_id: int, content: bytes, name: str = "codigos.csv"):
    page = client.get(f"/t/cafe/panel/coupons/{campaign_id}").get_data(as_text=True)
    return client.post(
        f"/t/cafe/panel/coupons/{campaign_id}/upload",
        data={"csrf_token": csrf_token(page), "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def result_of(message) -> list[list[str]]:
    [part] = [p for p in message.walk() if p.get_filename()]
    text = part.get_payload(decode=True).decode("utf-8-sig")
    header = text.splitlines()[0]
    delimiter = next(mark for mark in (";", "\t", ",") if mark in header)
    return list(csv.reader(io.StringIO(text), delimiter=delimiter))


@pytest.mark.parametrize(
    ("delimiter", "encoding"),
    [(";", "utf-8-sig"), (",", "utf-8"), (";", "cp1252"), ("\t", "utf-8-sig")],
)
def test_every_row_gets_its_status_by_email_in_the_merchants_language(
    client, db, shop, make_campaign, smtp_server, delimiter, encoding
):
    campaign, codes = make_campaign(shop, points=40)
    login(client, db, shop, Role.OWNER)
    answer = upload(client, campaign.id, file_bytes(codes[0], delimiter, encoding))
    assert answer.status_code == 302
    page = client.get(answer.location).get_data(as_text=True)
    [(kind, message)] = flashes(page)
    assert kind == "success" and message.startswith("8 filas recibidas")
    [mail] = smtp_server.handler.wait_for(1)
    assert mail["To"] == owner_email(db, shop)
    assert subject(mail) == "Tus códigos de cupón de “BIENVENIDA2027”: 2 creados"
    rows = result_of(mail)
    assert rows[0] == ["Código", "Puntos", "Vence", "Estado"]
    assert [row[-1] for row in rows[1:]] == STATUSES
    assert rows[1][:3] == ["PROMO-2027-A", "1.250", "31/12/2027"]  # as written
    with db(shop) as session:
        a = session.scalar(select(Code).where(Code.code == "PROMO2027A"))
        assert (a.points, a.expires_on, a.campaign_id) == (1250, date(2027, 12, 31), campaign.id)
        b = session.scalar(select(Code).where(Code.code == "PROMO2027B"))
        assert (b.points, b.expires_on) == (None, None)
        assert session.scalar(select(func.count(Code.id))) == 3 + 2


def test_a_file_processed_twice_creates_nothing_twice(client, db, shop, make_campaign, smtp_server):
    campaign, codes = make_campaign(shop)
    login(client, db, shop, Role.OWNER)
    content = file_bytes(codes[0], ";", "utf-8-sig")
    upload(client, campaign.id, content)
    upload(client, campaign.id, content)  # the same file uploaded again
    _first, second = smtp_server.handler.wait_for(2)
    assert [row[-1] for row in result_of(second)[1:3]] == ["duplicado", "duplicado"]
    with db(shop) as session:
        assert session.scalar(select(func.count(Code.id))) == 3 + 2
    # The job itself run again (a retried worker) reports its own codes as created.
    with db(shop) as session:
        token = session.scalar(select(Code.upload).where(Code.code == "PROMO2027A"))
    path = uploads._folder() / f"{shop.id}-{token}.csv"
    path.write_bytes(content)
    counts = uploads.process(shop.id, campaign.id, path.name, token, _owner_id(db, shop))
    assert counts == {"created": 2, "duplicate": 2, "invalid": 4}
    with db(shop) as session:
        assert session.scalar(select(func.count(Code.id))) == 3 + 2


def _owner_id(db, shop) -> int:
    from core.loyalty.staff import StaffUser

    with db(shop) as session:
        return session.scalar(select(StaffUser.id).where(StaffUser.role == Role.OWNER))


def test_the_job_runs_on_the_bulk_queue():
    assert uploads.process.queue == "bulk"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "El archivo está vacío."),
        (
            b"Nombre;Puntos\r\nAna;3\r\n",
            "El archivo no tiene una columna llamada “código”.",
        ),
    ],
)
def test_an_unusable_file_is_refused_at_once(
    client, db, shop, make_campaign, smtp_server, content, message
):
    campaign, _codes = make_campaign(shop)
    login(client, db, shop, Role.OWNER)
    answer = upload(client, campaign.id, content)
    page = client.get(answer.location).get_data(as_text=True)
    assert ("error", message) in flashes(page)
    assert smtp_server.handler.messages == []
    with db(shop) as session:
        assert session.scalar(select(func.count(Code.id))) == 3


def test_the_free_plan_has_no_upload(client, db, make_tenant, make_campaign, smtp_server):
    free = make_tenant(slug="cafe", plan="free")
    campaign, codes = make_campaign(free)
    login(client, db, free, Role.OWNER)
    page = client.get(f"/t/cafe/panel/coupons/{campaign.id}").get_data(as_text=True)
    assert "Subir tus propios códigos" not in page
    answer = client.post(
        f"/t/cafe/panel/coupons/{campaign.id}/upload",
        data={
            "csrf_token": csrf_token(page),
            "file": (io.BytesIO(file_bytes(codes[0], ";", "utf-8")), "c.csv"),
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code == 303
    with db(free) as session:
        assert session.scalar(select(func.count(Code.id))) == 3
