"""Clientes: search and filters, detail with who did what where and the pending
requests decided there, invitations by e-mail, the CSV export (managers only,
formula-safe, and harmless to the embedded server) and the printable card."""

from __future__ import annotations

import csv
import http.cookiejar
import io
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from email.header import decode_header, make_header

import pytest
import zxingcpp
from pypdf import PdfReader
from sqlalchemy import event, func, select
from werkzeug.serving import make_server

from core.app import create_app
from core.host.actors import Actor
from core.host.db import clock_at, platform_session, tenant_session
from core.host.migrate import upgrade
from core.loyalty import ledger
from core.loyalty.customers import create_member
from core.loyalty.locations import create_location
from core.loyalty.members import Customer, Membership
from core.loyalty.program import update_program
from core.loyalty.rewards import Redemption, Status, create_reward, request_reward
from core.loyalty.staff import Role, StaffUser, create_staff
from core.testing.factories import PASSWORD
from core.testing.weblogin import csrf_token, flashes, post_login
from core.web.cards import qr_code
from core.web.spreadsheet import safe_cell
from tenants import services as tenant_services

BASE = "/t/{slug}/panel/customers"


def owner_email(db, tenant) -> str:
    with db(tenant) as session:
        return session.scalar(select(StaffUser.email).where(StaffUser.role == Role.OWNER))


def log_in(client, db, tenant, email=None):
    response = post_login(client, tenant.slug, email or owner_email(db, tenant), PASSWORD)
    assert response.status_code == 302, response.get_data(as_text=True)


def add_employee(db, tenant, name="Caja Uno", email=None) -> int:
    with db(tenant) as session:
        user = create_staff(
            session,
            email=email or f"caja@{tenant.slug}.example",
            name=name,
            password=PASSWORD,
            role=Role.EMPLOYEE,
        )
        session.commit()
        return user.id


def codes(page: str) -> list[str]:
    return re.findall(r'<tr data-code="([A-Z0-9]+)"', page)


def give(db, tenant, member, points, *, actor=None, location_id=None):
    with db(tenant) as session:
        m = session.get(Membership, member.id)
        entry = ledger.earn(
            session, m, points=points, actor=actor or Actor.system(), location_id=location_id
        )
        session.commit()
        return entry.id


@pytest.fixture
def shop(make_tenant):
    return make_tenant()


@pytest.fixture
def owner(client, db, shop):
    log_in(client, db, shop)
    return client


# --- list, search and filters ---------------------------------------------------


def test_search_is_accent_and_case_insensitive(owner, shop, make_member):
    ana = make_member(shop, first_name="Ana", last_name="Núñez")
    make_member(shop, first_name="Pedro", last_name="Gómez")
    page = owner.get(BASE.format(slug=shop.slug) + "/?q=NUNEZ").get_data(as_text=True)
    assert codes(page) == [ana.code]
    page = owner.get(BASE.format(slug=shop.slug) + "/?q=gomez").get_data(as_text=True)
    assert len(codes(page)) == 1 and ana.code not in codes(page)
    page = owner.get(BASE.format(slug=shop.slug) + f"/?q={ana.code.lower()}")
    assert codes(page.get_data(as_text=True)) == [ana.code]


def test_with_points_and_sort_by_balance(owner, db, shop, make_member):
    none_, few, many = (make_member(shop) for _ in range(3))
    give(db, shop, few, 10)
    give(db, shop, many, 250)
    url = BASE.format(slug=shop.slug)
    assert codes(owner.get(url + "/").get_data(as_text=True)) == [many.code, few.code, none_.code]
    page = owner.get(url + "/?with_points=y&sort=balance").get_data(as_text=True)
    assert codes(page) == [many.code, few.code]
    assert "Clientes encontrados: 2" in page


def test_joined_between_local_dates(owner, shop, make_member):
    # Bogotá is UTC-5: 04:30 UTC on 1 March is still 28 February there.
    with clock_at(datetime(2026, 3, 1, 4, 30, tzinfo=UTC)):
        february = make_member(shop)
    with clock_at(datetime(2026, 3, 1, 5, 30, tzinfo=UTC)):
        march = make_member(shop)
    with clock_at(datetime(2026, 4, 1, 5, 0, tzinfo=UTC)):
        april = make_member(shop)
    url = BASE.format(slug=shop.slug)
    assert codes(owner.get(url + "/?joined_from=2026-03-01").get_data(as_text=True)) == [
        april.code,
        march.code,
    ]
    assert codes(owner.get(url + "/?joined_to=2026-02-28").get_data(as_text=True)) == [
        february.code
    ]
    page = owner.get(url + "/?joined_from=2026-03-01&joined_to=2026-03-31")
    assert codes(page.get_data(as_text=True)) == [march.code]


def test_a_reversed_or_bad_date_range_says_so(owner, shop, make_member):
    make_member(shop)
    url = BASE.format(slug=shop.slug)
    page = owner.get(url + "/?joined_from=2026-03-10&joined_to=2026-03-01")
    assert page.status_code == 200
    assert "La fecha final es anterior a la inicial." in page.get_data(as_text=True)
    assert len(codes(page.get_data(as_text=True))) == 1  # the bad end narrows nothing
    page = owner.get(url + "/?joined_from=yesterday").get_data(as_text=True)
    assert len(codes(page)) == 1 and "field-error" in page


def test_with_pending_requests(owner, db, shop, make_member):
    asking, other = make_member(shop), make_member(shop)
    give(db, shop, asking, 100)
    give(db, shop, other, 100)
    with db(shop) as session:
        update_program(session, {"customer_redemption_requests": True})
        reward = create_reward(session, name="Café", points=40)
        request_reward(session, session.get(Membership, asking.id), reward)
        session.commit()
    page = owner.get(BASE.format(slug=shop.slug) + "/?pending=y").get_data(as_text=True)
    assert codes(page) == [asking.code]


def test_pages_of_25_keep_the_filters(owner, db, shop, make_member):
    members = [make_member(shop, last_name="Ruiz") for _ in range(27)]
    make_member(shop, last_name="Otro")
    url = BASE.format(slug=shop.slug)
    first = owner.get(url + "/?q=ruiz").get_data(as_text=True)
    assert len(codes(first)) == 25
    assert "Página 1 de 2" in first
    (following,) = re.findall(r'<a rel="next" href="([^"]+)"', first)
    assert sorted(following.split("?")[1].split("&amp;")) == ["page=2", "q=ruiz"]
    second = owner.get(url + "/?q=ruiz&page=2").get_data(as_text=True)
    assert set(codes(second)) == {m.code for m in members[:2]}
    assert "Página 2 de 2" in second


# --- detail ---------------------------------------------------------------------


def test_detail_shows_every_entry_with_who_and_where(owner, db, shop, make_member):
    with db(shop) as session:
        update_program(session, {"welcome_points": 5, "expiry_months": 2})
        session.commit()
    caja = add_employee(db, shop, name="Lucía Caja")
    with db(shop) as session:
        centro = create_location(session, name="Sede Centro").id
        session.commit()
    with clock_at(datetime(2026, 5, 10, 15, 0, tzinfo=UTC)):
        member = make_member(shop, first_name="Ana", last_name="Núñez")
        give(db, shop, member, 40, actor=Actor.staff(caja), location_id=centro)
        give(db, shop, member, 7, actor=Actor("token", 3))
        with db(shop) as session:
            ledger.redeem(
                session,
                session.get(Membership, member.id),
                12,
                actor=Actor.staff(caja),
                location_id=centro,
            )
            session.commit()
        page = owner.get(BASE.format(slug=shop.slug) + f"/{member.code}").get_data(as_text=True)
    rows = re.findall(r'<tr data-entry="\d+">(.*?)</tr>', page, re.S)
    cells = [
        [re.sub(r"<[^>]+>", " ", c).split() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
        for r in rows
    ]
    # Newest first: redemption, API points, staff points, welcome points.
    summary = [(" ".join(c[1]), c[2][0], " ".join(c[3]), " ".join(c[4])) for c in cells]
    assert summary == [
        ("Canje", "-12", "Lucía Caja", "Sede Centro"),
        ("Puntos acumulados", "7", "API", ""),
        ("Puntos acumulados", "40", "Lucía Caja", "Sede Centro"),
        ("Puntos de bienvenida", "5", "Sistema", ""),
    ]
    assert '<span class="value" id="balance">40</span>' in page
    # 52 points earned on 10 May expire two months later, 12 used: 40 on 10 July.
    assert re.search(r"10 de julio de 2026</td><td class=\"num\">40</td>", page)


def movement_of(page: str, entry_id: int) -> str:
    """The Movement cell of an entry's row, as read."""
    row = re.search(rf'<tr data-entry="{entry_id}"[^>]*>(.*?)</tr>', page, re.S).group(1)
    cell = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[1]
    return " ".join(re.sub(r"<[^>]+>", " ", cell).split())


def test_a_pending_request_shows_as_pending_and_is_decided_from_the_customer(
    owner, db, shop, make_member, make_tenant
):
    member = make_member(shop, first_name="Ana", last_name="Núñez")
    give(db, shop, member, 200)
    with db(shop) as session:
        update_program(session, {"customer_redemption_requests": True})
        reward = create_reward(session, name="Café", points=90)
        asking = session.get(Membership, member.id)
        first = request_reward(session, asking, reward, idempotency_key="app-1")
        second = request_reward(session, asking, reward, idempotency_key="app-2")
        session.commit()
        held = {first.id: first.entry_id, second.id: second.entry_id}
    url = BASE.format(slug=shop.slug) + f"/{member.code}"
    page = owner.get(url).get_data(as_text=True)
    # Held, not done: the movement says the request is pending.
    assert movement_of(page, held[first.id]) == "Canje solicitado (pendiente) Café"
    assert f'<tr data-entry="{held[first.id]}" class="pending">' in page
    assert "<h2>Canjes solicitados</h2>" in page
    actions = re.findall(r'<form method="post" action="([^"]+)"', page)
    assert f"/t/{shop.slug}/panel/customers/{member.code}/requests/{first.id}/confirm" in actions
    assert f"/t/{shop.slug}/panel/customers/{member.code}/requests/{second.id}/cancel" in actions

    token = csrf_token(page)
    for _tap in range(2):  # a double tap confirms once
        answer = owner.post(f"{url}/requests/{first.id}/confirm", data={"csrf_token": token})
        assert answer.status_code == 302 and answer.headers["Location"].endswith(url)
    answer = owner.post(f"{url}/requests/{second.id}/cancel", data={"csrf_token": token})
    assert answer.status_code == 302
    page = owner.get(url).get_data(as_text=True)
    assert ("success", "Solicitud de Café cancelada: 90 puntos devueltos. Saldo: 110") in (
        flashes(page)
    )
    assert movement_of(page, held[first.id]) == "Canje Café"
    assert movement_of(page, held[second.id]) == "Canje solicitado (cancelado) Café"
    assert "Canjes solicitados" not in page
    with db(shop) as session:
        statuses = dict(session.execute(select(Redemption.id, Redemption.status)).all())
        assert statuses == {first.id: Status.CONFIRMED, second.id: Status.CANCELLED}
        assert session.get(Membership, member.id).balance == 110

    # Another member's request, or without the CSRF token: refused, nothing decided.
    other = make_member(shop)
    give(db, shop, other, 100)
    with db(shop) as session:
        theirs = request_reward(
            session, session.get(Membership, other.id), session.get(type(reward), reward.id)
        ).id
        session.commit()
    assert (
        owner.post(f"{url}/requests/{theirs}/confirm", data={"csrf_token": token}).status_code
        == 404
    )
    other_url = BASE.format(slug=shop.slug) + f"/{other.code}"
    assert owner.post(f"{other_url}/requests/{theirs}/confirm").status_code == 400
    with db(shop) as session:
        assert session.get(Redemption, theirs).status == Status.REQUESTED


def test_another_merchants_request_cannot_be_decided(owner, db, shop, make_member, make_tenant):
    elsewhere = make_tenant()
    stranger = make_member(elsewhere)
    give(db, elsewhere, stranger, 100)
    with db(elsewhere) as session:
        update_program(session, {"customer_redemption_requests": True})
        reward = create_reward(session, name="Té", points=40)
        theirs = request_reward(session, session.get(Membership, stranger.id), reward).id
        session.commit()
    mine = make_member(shop)
    token = csrf_token(
        owner.get(BASE.format(slug=shop.slug) + f"/{mine.code}").get_data(as_text=True)
    )
    for code in (mine.code, stranger.code):
        answer = owner.post(
            BASE.format(slug=shop.slug) + f"/{code}/requests/{theirs}/cancel",
            data={"csrf_token": token},
        )
        assert answer.status_code == 404
    with db(elsewhere) as session:
        assert session.get(Redemption, theirs).status == Status.REQUESTED


def test_detail_of_another_tenants_code_is_404(owner, shop, make_tenant, make_member):
    other = make_member(make_tenant())
    url = BASE.format(slug=shop.slug)
    assert owner.get(url + f"/{other.code}").status_code == 404
    assert owner.get(url + f"/{other.code}/card.pdf").status_code == 404
    assert owner.get(url + "/no-such-code!").status_code == 404
    export = owner.get(url + f"/export.csv?q={other.code}").get_data(as_text=True)
    assert other.code not in export


# --- roles ----------------------------------------------------------------------


def test_employee_sees_customers_but_cannot_export_or_invite(client, db, shop, make_member):
    member = make_member(shop)
    add_employee(db, shop)
    log_in(client, db, shop, email=f"caja@{shop.slug}.example")
    url = BASE.format(slug=shop.slug)
    listing = client.get(url + "/")
    assert listing.status_code == 200 and codes(listing.get_data(as_text=True)) == [member.code]
    assert "export.csv" not in listing.get_data(as_text=True)
    assert client.get(url + f"/{member.code}").status_code == 200
    assert client.get(url + "/export.csv").status_code == 403
    assert client.get(url + "/invite").status_code == 403
    token = csrf_token(listing.get_data(as_text=True))
    response = client.post(
        url + "/invite", data={"csrf_token": token, "email": "nuevo@mail.example"}
    )
    assert response.status_code == 403
    with db(shop) as session:
        assert session.scalar(select(func.count(Membership.id))) == 1


def test_logged_out_is_sent_to_login(client, shop):
    response = client.get(BASE.format(slug=shop.slug) + "/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- invitation -----------------------------------------------------------------


def test_invitation_enrols_and_mails_the_customer(owner, db, shop, smtp_server):
    with db(shop) as session:
        update_program(session, {"welcome_points": 20})
        session.commit()
    url = BASE.format(slug=shop.slug)
    token = csrf_token(owner.get(url + "/invite").get_data(as_text=True))
    response = owner.post(
        url + "/invite",
        data={
            "csrf_token": token,
            "email": " Marta.Diaz@Mail.example ",
            "first_name": "Marta",
            "last_name": "Díaz",
            "document_id": "1020304050",
        },
    )
    assert response.status_code == 302
    with db(shop) as session:
        member = session.scalars(select(Membership)).one()
        assert (member.customer.email, member.document_id, member.joined_via, member.balance) == (
            "marta.diaz@mail.example",
            "1020304050",
            "invitation",
            20,
        )
        code = member.code
    assert response.headers["Location"].endswith(f"/panel/customers/{code}")
    messages = smtp_server.handler.wait_for(1)
    invitations = [m for m in messages if "te invita" in m["Subject"]]
    assert len(invitations) == 1
    mail = invitations[0]
    assert mail["To"] == "marta.diaz@mail.example"
    assert str(make_header(decode_header(mail["Subject"]))) == (
        f"{shop.name} te invita a su programa de fidelización"
    )
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode("utf-8")
        for part in mail.walk()
        if not part.is_multipart()
    }
    assert f"Tu código de cliente es {code}." in parts["text/plain"]
    assert "Ya tienes 20 puntos." in parts["text/plain"]
    assert f">{code}</p>" in parts["text/html"]
    page = owner.get(response.headers["Location"]).get_data(as_text=True)
    assert ("success", "Invitación enviada a marta.diaz@mail.example.") in flashes(page)


def test_invitation_in_english_for_an_english_merchant(client, db, make_tenant, smtp_server):
    shop = make_tenant(language="en")
    log_in(client, db, shop)
    url = BASE.format(slug=shop.slug)
    token = csrf_token(client.get(url + "/invite").get_data(as_text=True))
    client.post(url + "/invite", data={"csrf_token": token, "email": "joe@mail.example"})
    messages = [m for m in smtp_server.handler.wait_for(1) if "invites" in m["Subject"]]
    assert [m["Subject"] for m in messages] == [f"{shop.name} invites you to its loyalty program"]


def test_invitation_refuses_a_bad_or_taken_address(owner, db, shop, make_member, smtp_server):
    make_member(shop, email="ya@mail.example")
    url = BASE.format(slug=shop.slug)
    token = csrf_token(owner.get(url + "/invite").get_data(as_text=True))
    bad = owner.post(url + "/invite", data={"csrf_token": token, "email": "no-es-correo"})
    assert bad.status_code == 200
    assert "Ingresa un correo electrónico válido." in bad.get_data(as_text=True)
    taken = owner.post(url + "/invite", data={"csrf_token": token, "email": "YA@mail.example"})
    assert taken.status_code == 200
    assert "Ya está en uso." in taken.get_data(as_text=True)
    missing_csrf = owner.post(url + "/invite", data={"email": "otro@mail.example"})
    assert missing_csrf.status_code in (200, 400)
    with db(shop) as session:
        assert session.scalar(select(func.count(Membership.id))) == 1
    assert not [m for m in smtp_server.handler.messages if "invita" in m["Subject"]]


def test_inviting_another_merchants_customer_makes_a_membership_here(
    owner, db, shop, make_tenant, make_member
):
    elsewhere = make_tenant()
    theirs = make_member(elsewhere, email="compartida@mail.example")
    url = BASE.format(slug=shop.slug)
    token = csrf_token(owner.get(url + "/invite").get_data(as_text=True))
    owner.post(url + "/invite", data={"csrf_token": token, "email": "compartida@mail.example"})
    with db(elsewhere) as session:
        assert session.scalars(select(Membership)).one().code == theirs.code  # untouched
    with db(shop) as session:
        mine = session.scalars(select(Membership)).one()
        assert mine.code != theirs.code and mine.customer_id == theirs.customer_id


# --- CSV export -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, shown",
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+57 300 1234567", "'+57 300 1234567"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("Ana = Ana", "Ana = Ana"),
        ("", ""),
    ],
)
def test_safe_cell(text, shown):
    assert safe_cell(text) == shown


def read_csv(response, delimiter=";"):
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=delimiter))


def test_export_has_balances_and_neutralises_formulas(owner, db, shop, make_member):
    with clock_at(datetime(2026, 3, 1, 4, 30, tzinfo=UTC)):
        evil = make_member(
            shop,
            first_name="=cmd|' /C calc'!A0",
            last_name="@SUM(1+1)",
            document_id="-1+1",
            phone="+57 300 1234567",
        )
    plain = make_member(shop, first_name="Ana", last_name="Núñez")
    give(db, shop, evil, 120)
    response = owner.get(BASE.format(slug=shop.slug) + "/export.csv")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = read_csv(response)
    assert rows[0] == [
        "Código",
        "Nombre",
        "Apellido",
        "Correo electrónico",
        "Documento",
        "Teléfono",
        "Cumpleaños",
        "Alta",
        "Puntos",
    ]
    by_code = {row[0]: row for row in rows[1:]}
    assert by_code[evil.code] == [
        evil.code,
        "'=cmd|' /C calc'!A0",
        "'@SUM(1+1)",
        evil.customer.email,
        "'-1+1",
        "'+57 300 1234567",
        "",
        "2026-02-28",
        "120",
    ]
    assert by_code[plain.code][1:3] == ["Ana", "Núñez"]
    assert by_code[plain.code][8] == "0"
    assert len(rows) == 3


def test_export_follows_the_filters_and_the_locale(client, db, make_tenant, make_member):
    shop = make_tenant(language="en")
    rich, poor = make_member(shop), make_member(shop)
    give(db, shop, rich, 5)
    log_in(client, db, shop)
    rows = read_csv(
        client.get(BASE.format(slug=shop.slug) + "/export.csv?with_points=y"), delimiter=","
    )
    assert rows[0][0] == "Code"
    assert [row[0] for row in rows[1:]] == [rich.code]
    assert poor.code not in {row[0] for row in rows}


def test_export_streams_past_one_batch(owner, db, shop, make_member, monkeypatch):
    from core.loyalty import customers

    real = customers.iter_members
    monkeypatch.setattr("core.panel.customers.iter_members", lambda *args: real(*args, batch=2))
    made = [make_member(shop).code for _ in range(5)]
    rows = read_csv(owner.get(BASE.format(slug=shop.slug) + "/export.csv"))
    assert [row[0] for row in rows[1:]] == made  # oldest first, three batches of two


# --- printable card -------------------------------------------------------------


def test_card_is_a_pdf_with_the_code_and_a_qr_that_decodes_to_it(
    client, db, make_member, make_tenant
):
    shop = make_tenant(name="Café La Esquina")
    member = make_member(shop, first_name="Ana", last_name="Núñez")
    add_employee(db, shop)
    log_in(client, db, shop, email=f"caja@{shop.slug}.example")  # the till prints it too
    response = client.get(BASE.format(slug=shop.slug) + f"/{member.code}/card.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    body = response.get_data()
    assert body.startswith(b"%PDF")
    page = PdfReader(io.BytesIO(body)).pages[0]
    text = page.extract_text()
    assert member.code in text and "Café La Esquina" in text and "Ana Núñez" in text
    (image,) = page.images
    qr = image.image.convert("L")
    # One pixel per module: the embedded picture is segno's matrix, quiet zone included.
    matrix = qr_code(member.code).matrix
    border = (qr.width - len(matrix)) // 2
    assert border == 4
    embedded = [
        [qr.getpixel((x + border, y + border)) < 128 for x in range(len(matrix))]
        for y in range(len(matrix))
    ]
    assert embedded == [[bool(cell) for cell in row] for row in matrix]
    big = qr.resize((qr.width * 8, qr.height * 8), resample=0)
    assert [r.text for r in zxingcpp.read_barcodes(big)] == [member.code]


def test_card_escapes_the_customers_name(owner, shop, make_member):
    member = make_member(shop, first_name="<img src=http://evil.example/x>", last_name="")
    response = owner.get(BASE.format(slug=shop.slug) + f"/{member.code}/card.pdf")
    assert response.status_code == 200
    text = PdfReader(io.BytesIO(response.get_data())).pages[0].extract_text()
    assert "<imgsrc=http://evil.example/x>" in "".join(text.split())  # text, never fetched


# --- no N+1 ---------------------------------------------------------------------


def count_statements(platform, call):
    seen = []

    def before(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(platform.engine, "before_cursor_execute", before)
    try:
        response = call()
    finally:
        event.remove(platform.engine, "before_cursor_execute", before)
    assert response.status_code == 200
    return len(seen)


def test_the_list_runs_as_many_statements_for_5_rows_as_for_50(
    owner, db, platform, make_tenant, make_member
):
    small, large = make_tenant(), make_tenant()
    for tenant, n in ((small, 5), (large, 50)):
        with db(tenant) as session:
            for i in range(n):
                session.add(
                    Membership(
                        customer=Customer(email=f"n{i}@{tenant.slug}.example"),
                        first_name=f"N{i}",
                        code=f"C{i:05d}",
                        balance=i,
                        search_text=f"n{i}",
                    )
                )
            session.commit()
    counts = []
    for tenant, shown in ((small, 4), (large, 25)):
        with owner.session_transaction() as cookie:
            cookie.clear()
        log_in(owner, db, tenant)
        url = BASE.format(slug=tenant.slug) + "/?with_points=y&sort=balance"
        page = owner.get(url).get_data(as_text=True)
        assert len(codes(page)) == shown
        counts.append(count_statements(platform, lambda u=url: owner.get(u)))
    assert counts[0] == counts[1]
    assert counts[0] <= 8


# --- the export on the embedded server ------------------------------------------


class Browser:
    """A cookie-keeping HTTP client with a short timeout: a request that waits on
    SQLite's lock (30 s) fails the test instead of hanging it."""

    TIMEOUT = 8

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def open(self, path: str, data: dict[str, str] | None = None) -> tuple[int, bytes]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(self.base + path, body, timeout=self.TIMEOUT) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


@pytest.fixture
def embedded_site(tmp_path, monkeypatch):
    """The app on a SQLite file of its own (whatever the suite's database), served
    for real from a thread, with a white-label merchant and one member."""
    monkeypatch.setenv("PREMIA_INSTANCE_PATH", str(tmp_path))
    site = create_app(
        {
            "TESTING": True,
            "PREMIA_DATABASE_URL": f"sqlite:///{tmp_path}/demo.db",
            "PREMIA_REDIS_URL": None,
        }
    )
    platform = site.extensions["premia"]
    with site.app_context():
        upgrade(site)
        with platform_session(platform.sessions) as session:
            tenant = tenant_services.create_tenant(
                session,
                slug="cafe",
                name="Café",
                plan="white-label",
                currency="COP",
                country="CO",
                timezone="America/Bogota",
                owner_email="duena@cafe.example",
                owner_password=PASSWORD,
            )
            session.commit()
        with tenant_session(platform.sessions, tenant.id) as session:
            update_program(session, {"points_per_amount": {"amount": "1000", "points": 1}})
            for n in range(30):
                member = create_member(
                    session,
                    email=f"c{n}@mail.example",
                    first_name=f"C{n}",
                    last_name="Test",
                    actor=Actor.system(),
                )
            session.commit()
    server = make_server("127.0.0.1", 0, site, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site, f"http://127.0.0.1:{server.server_port}", member.code
    finally:
        server.shutdown()
        thread.join(10)
        platform.engine.dispose()


def test_after_a_csv_download_the_embedded_server_still_answers_everything(embedded_site):
    site, url, code = embedded_site
    panel = "/t/cafe/panel"
    browser = Browser(url)
    status, page = browser.open("/t/cafe/login")
    status, _ = browser.open(
        "/t/cafe/login",
        {
            "email": "duena@cafe.example",
            "password": PASSWORD,
            "csrf_token": csrf_token(page.decode()),
        },
    )
    assert status == 200  # followed to Inicio

    for _ in range(2):
        status, body = browser.open(f"{panel}/customers/export.csv")
        assert status == 200
        assert len(body.decode("utf-8-sig").splitlines()) == 31

    status, page = browser.open(f"{panel}/loyalty/{code}")
    assert status == 200
    key = re.search(r'name="key"[^>]*value="([^"]+)"', page.decode()).group(1)
    status, page = browser.open(
        f"{panel}/loyalty/{code}/give",
        {"csrf_token": csrf_token(page.decode()), "key": key, "mode": "amount", "amount": "45000"},
    )
    assert status == 200
    assert "45" in dict(flashes(page.decode()))["success"]

    # Every page of the merchant's plan: not those of a plugin the plan leaves out (an
    # installed external plugin in no seed plan, as examples/premia-greeting).
    plugins = site.extensions["premia"].plugins
    off_plan = {name for name, info in plugins.infos.items() if "white-label" not in info.plans}
    pages = [
        rule.rule.replace("<tenant_slug>", "cafe").replace("<code>", code)
        for rule in site.url_map.iter_rules()
        if rule.rule.startswith("/t/<tenant_slug>/panel/")
        and "GET" in rule.methods
        and rule.arguments <= {"tenant_slug", "code"}
        and plugins.blueprint_owner.get(rule.endpoint.split(".")[1]) not in off_plan
    ]
    assert len(pages) > 15
    answers = {path: browser.open(path)[0] for path in pages}
    assert answers == dict.fromkeys(pages, 200)
