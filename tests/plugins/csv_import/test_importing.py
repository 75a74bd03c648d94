"""Importing customers and points: each dialect, each defect on a known row with its
message, each row all or nothing, a second upload that does nothing twice, a job
killed halfway and resumed, and another merchant's members never touched."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, func, select

from core.host.settings import save_settings
from core.loyalty.ledger import Entry, Lot, audit_member, system_key
from core.loyalty.members import Customer, Membership
from core.loyalty.program import update_program
from core.loyalty.purchases import Purchase
from plugins.csv_import import importing
from plugins.csv_import.models import Import, ImportRow
from plugins.notifications.settings import NotificationSettings
from tests.concurrency import run_together, unexpected_errors
from tests.plugins.csv_import.helpers import counts, import_file, results

HEADER = [
    "Nombres",
    "Apellidos",
    "E-mail",
    "Documento de identidad",
    "Teléfono",
    "Fecha de nacimiento",
    "Puntos",
]


def members_by_email(db, tenant) -> dict[str, Membership]:
    with db(tenant) as session:
        return {m.email: m for m in session.scalars(select(Membership))}


def test_customers_with_defects_on_known_rows(db, shop, write_csv):
    path = write_csv(
        [
            HEADER,
            ["Ana", "Núñez", "ana@example.com", "1020", "300 1234567", "31/12/1990", "1.250"],
            ["Bea", "Ruiz", "no-es-correo", "1021", "", "", "10"],  # row 3: bad e-mail
            ["", "Sola", "sola@example.com", "1022", "", "", ""],  # row 4: no name
            ["Cid", "Mora", "ANA@example.com", "1023", "", "", ""],  # row 5: e-mail of row 2
            ["Dan", "Paz", "dan@example.com", "1020", "", "", ""],  # row 6: document of row 2
            ["Eva", "Gil", "eva@example.com", "1024", "", "1990-02-30", ""],  # row 7: no date
            ["Fer", "Luz", "fer@example.com", "1025", "", "", "12,5"],  # row 8: half a point
            ["Gil", "Sol", "gil@example.com", "1026", "", "", "-3"],  # row 9: negative
            ['=HYPERLINK("http://x","y")', "Ríos", "hyp@example.com", "", "", "", "0"],
            ["Ivo", "Paz\nSegundo", "ivo@example.com", "", "", "", "7"],  # quoted line break
        ]
    )
    import_id = import_file(db, shop, path, "customers")
    got = results(db, shop, import_id)
    assert counts(db, shop, import_id) == {
        "status": "done",
        "total": 10,
        "done": 10,
        "created": 3,
        "updated": 0,
        "granted": 0,
        "refused": 7,
        "skipped": 0,
    }
    assert got[2][0] == "created" and got[10][0] == "created" and got[11][0] == "created"
    assert got[3] == ("refused", "E-mail", "Ingresa un correo electrónico válido.")
    assert got[4] == ("refused", "Nombres", "Escribe el nombre del cliente.")
    assert got[5] == ("refused", "E-mail", "Este correo también está en la fila 2.")
    assert got[6] == (
        "refused",
        "Documento de identidad",
        "Este documento también está en la fila 2.",
    )
    assert got[7] == (
        "refused",
        "Fecha de nacimiento",
        "No es una fecha (escríbela como día/mes/año).",
    )
    assert got[8] == ("refused", "Puntos", "Los puntos deben ser un número entero, cero o más.")
    assert got[9][0] == "refused" and got[9][1] == "Puntos"
    members = members_by_email(db, shop)
    assert set(members) == {"ana@example.com", "hyp@example.com", "ivo@example.com"}
    ana = members["ana@example.com"]
    assert ana.balance == 1250 and ana.document_id == "1020"
    assert str(ana.birthday) == "1990-12-31" and ana.phone == "300 1234567"
    assert members["hyp@example.com"].first_name == '=HYPERLINK("http://x","y")'
    assert members["ivo@example.com"].last_name == "Paz\nSegundo"
    with db(shop) as session:
        entry = session.scalar(select(Entry).where(Entry.member_id == ana.id))
        assert (entry.kind, entry.points) == ("opening", 1250)
        assert audit_member(session, ana.id) == (1250, 1250, 1250)


@pytest.mark.parametrize(
    ("delimiter", "encoding", "newline"),
    [
        (",", "utf-8", "\n"),
        ("\t", "utf-8-sig", "\r\n"),
        (";", "cp1252", "\r\n"),
        (";", "latin-1", "\n"),
    ],
)
def test_each_dialect_reads_alike(db, shop, write_csv, delimiter, encoding, newline):
    path = write_csv(
        [
            ["nombre", "apellido", "correo", "cédula", "puntos"],
            ["José", "Peña", "jose@example.com", "99", "2.000"],
            ["Ana; Lía", "Núñez", "ana@example.com", "98", "5"],
        ],
        delimiter=delimiter,
        encoding=encoding,
        newline=newline,
    )
    import_id = import_file(db, shop, path, "customers")
    assert counts(db, shop, import_id)["created"] == 2
    members = members_by_email(db, shop)
    assert members["jose@example.com"].full_name == "José Peña"
    assert members["jose@example.com"].balance == 2000
    assert members["ana@example.com"].first_name == "Ana; Lía"


def test_a_second_upload_creates_nothing_and_update_gives_no_opening_twice(db, shop, write_csv):
    rows = [HEADER, ["Ana", "Núñez", "ana@example.com", "1020", "", "", "100"]]
    first = import_file(db, shop, write_csv(rows), "customers")
    assert counts(db, shop, first)["created"] == 1
    again = import_file(db, shop, write_csv(rows), "customers")
    assert counts(db, shop, again)["refused"] == 1
    assert results(db, shop, again)[2] == (
        "refused",
        "E-mail",
        "Este correo electrónico ya pertenece a un cliente.",
    )
    rows[1][0] = "Ana María"
    updated = import_file(db, shop, write_csv(rows), "customers", update=True)
    assert counts(db, shop, updated)["updated"] == 1
    ana = members_by_email(db, shop)["ana@example.com"]
    assert ana.first_name == "Ana María" and ana.balance == 100


def test_points_in_bulk_by_code_email_and_document_once_per_file(db, shop, write_csv, make_member):
    ana = make_member(shop, email="ana@example.com", document_id="1020")
    bea = make_member(shop, email="bea@example.com")
    path = write_csv(
        [
            ["Código", "Correo", "Documento", "Puntos", "Monto", "Descripción", "Referencia"],
            [ana.code, "", "", "10", "", "Campaña", "C-1"],
            ["", "BEA@example.com", "", "", "25.000", "", "F-9"],  # 25 points by the equivalence
            ["", "", "1020", "3", "", "", ""],
            ["", "nadie@example.com", "", "5", "", "", ""],  # row 5: nobody
            [bea.code, "", "", "", "mucho", "", ""],  # row 6: not a number
            ["ZZZZZZZ", "", "", "4", "", "", ""],  # row 7: unknown code
        ]
    )
    import_id = import_file(db, shop, path, "points")
    assert counts(db, shop, import_id) == {
        "status": "done",
        "total": 6,
        "done": 6,
        "created": 0,
        "updated": 0,
        "granted": 3,
        "refused": 3,
        "skipped": 0,
    }
    got = results(db, shop, import_id)
    assert got[5] == ("refused", "Correo", "No existe ningún cliente con este correo.")
    assert got[6] == ("refused", "Monto", "El monto debe ser un número mayor que cero.")
    assert got[7] == ("refused", "Código", "No existe ningún cliente con este código.")
    members = members_by_email(db, shop)
    assert members["ana@example.com"].balance == 13
    assert members["bea@example.com"].balance == 25
    again = import_file(db, shop, path, "points")
    assert counts(db, shop, again)["granted"] == 0
    assert counts(db, shop, again)["skipped"] == 3
    members = members_by_email(db, shop)
    assert members["ana@example.com"].balance == 13 and members["bea@example.com"].balance == 25


def test_a_killed_job_resumes_without_doing_a_row_twice(db, shop, write_csv, monkeypatch, app):
    rows = [HEADER] + [[f"N{i}", "X", f"c{i}@example.com", f"D{i}", "", "", "5"] for i in range(25)]
    path = write_csv(rows)
    calls = {"n": 0}
    real = importing.CustomerRows.values

    def dying(self, number, cells, **kwargs):
        calls["n"] += 1
        if calls["n"] == 18:
            raise KeyboardInterrupt  # the worker killed mid-batch
        return real(self, number, cells, **kwargs)

    # Five rows a transaction on either path (row by row, or set-based on PostgreSQL).
    monkeypatch.setattr(importing, "BATCH", 5)
    monkeypatch.setattr(importing, "BULK_BATCH", 5)
    monkeypatch.setattr(importing.CustomerRows, "values", dying)
    with pytest.raises(KeyboardInterrupt):
        import_file(db, shop, path, "customers")
    with db(shop) as session:
        import_id = session.scalar(select(Import.id))
        assert session.scalar(select(func.count(Membership.id))) == 15  # three batches committed
    from plugins.csv_import.jobs import run_import

    run_import(shop.id, import_id)
    assert counts(db, shop, import_id) == {
        "status": "done",
        "total": 25,
        "done": 25,
        "created": 25,
        "updated": 0,
        "granted": 0,
        "refused": 0,
        "skipped": 0,
    }
    with db(shop) as session:
        assert session.scalar(select(func.count(Membership.id))) == 25
        assert session.scalar(select(func.sum(Lot.remaining))) == 125


def test_another_merchants_members_are_never_touched(db, shop, make_tenant, make_member, write_csv):
    other = make_tenant(slug="otro", plan="white-label")
    theirs = make_member(other, email="ana@example.com", first_name="Secreta", document_id="1020")
    path = write_csv([HEADER, ["Ana", "Núñez", "ana@example.com", "1020", "", "", "40"]])
    import_id = import_file(db, shop, path, "customers", update=True)
    assert counts(db, shop, import_id)["created"] == 1  # a member of ours, not theirs
    ours = members_by_email(db, shop)["ana@example.com"]
    assert ours.first_name == "Ana" and ours.balance == 40 and ours.id != theirs.id
    with db(other) as session:
        still = session.get(Membership, theirs.id)
        assert (still.first_name, still.balance) == ("Secreta", 0)
    points = write_csv([["codigo", "puntos"], [theirs.code, "9"]])
    import_id = import_file(db, shop, points, "points")
    assert results(db, shop, import_id)[2] == (
        "refused",
        "codigo",
        "No existe ningún cliente con este código.",
    )
    with db(other) as session:
        assert session.get(Membership, theirs.id).balance == 0
    with db(shop) as session:  # one person, two memberships
        assert session.scalar(select(func.count(Customer.id))) == 1


def test_a_file_without_a_usable_column_is_refused_at_once(db, shop, write_csv):
    from core.host.errors import InvalidInput

    path = write_csv([["color", "tamaño"], ["rojo", "M"]])
    with db(shop) as session, pytest.raises(InvalidInput) as refused:
        importing.accept(session, shop, kind="customers", path=path, filename="x.csv")
    assert "file" in refused.value.fields


@pytest.mark.postgres
def test_the_same_file_imported_twice_at_once_grants_each_row_once(
    app, db, shop, make_member, write_csv, sessions
):

    members = [make_member(shop, email=f"m{i}@example.com") for i in range(5)]
    path = write_csv(
        [["email", "puntos"], *[[m.email, str(10 + i)] for i, m in enumerate(members)]]
    )
    folder = importing.upload_folder(shop.id)
    folder.mkdir(parents=True, exist_ok=True)
    ids = []
    with db(shop) as session:
        for n in range(2):
            stored = folder / f"twin{n}.csv"
            stored.write_bytes(path.read_bytes())
            imported = importing.accept(session, shop, kind="points", path=stored, filename="p.csv")
            importing.start(session, imported)
            session.flush()
            ids.append(imported.id)
        session.commit()

    def work(i: int) -> str:
        with sessions(shop.id) as session:
            importing.run(session, shop, session.get(Import, ids[i]), commit_every=1)
            return "done"

    results = run_together(app, 2, work)
    assert unexpected_errors(results) == []
    both = [counts(db, shop, i) for i in ids]
    assert sum(c["granted"] for c in both) == 5 and sum(c["skipped"] for c in both) == 5
    with db(shop) as session:
        for i, member in enumerate(members):
            assert audit_member(session, member.id) == (10 + i, 10 + i, 10 + i)


# --- the set-based path (PostgreSQL) -------------------------------------------


class Statements:
    """Counts the statements sent to the database while it is open."""

    def __init__(self, app) -> None:
        self.engine = app.extensions["premia"].engine
        self.count = 0

    def _seen(self, *_args) -> None:
        self.count += 1

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


def ledger_agrees(db, tenant) -> None:
    """Every member: balance = sum of entries = sum of open lots; each entry's
    balance_after is the running sum of the member's entries."""
    with db(tenant) as session:
        for member in session.scalars(select(Membership)):
            balance, entries, lots = audit_member(session, member.id)
            assert balance == entries == lots, member.email
            running = 0
            for entry in session.scalars(
                select(Entry).where(Entry.member_id == member.id).order_by(Entry.id)
            ):
                running += entry.points
                assert entry.balance_after == running


@pytest.mark.postgres
def test_many_customers_take_the_set_based_path(app, db, shop, make_tenant, make_member, write_csv):
    other = make_tenant(slug="otro", plan="white-label")
    theirs = make_member(other, email="c3@example.com", first_name="Secreta", document_id="D3")
    make_member(shop, email="c5@example.com", first_name="Vieja")
    rows = [HEADER] + [
        [f"N{i}", "Pérez", f"c{i}@example.com", f"D{i}", "", "", str(i)] for i in range(300)
    ]
    rows[11][2] = "no-es-correo"  # row 12
    rows[23][2] = "C20@example.com"  # row 24: the e-mail of row 22
    rows[31][3] = "D1"  # row 32: the document of row 3
    path = write_csv(rows)
    with db(shop) as session:  # the import's own statements: no welcome e-mails sent inline
        off = {"on_member_created": False}
        save_settings(session, "notifications", NotificationSettings(), off)
        session.commit()
    with Statements(app) as sent:
        import_id = import_file(db, shop, path, "customers")
    # One batch: a few dozen statements for 300 rows, where the per-row path sends ~30 a row.
    assert sent.count < 80
    assert counts(db, shop, import_id) == {
        "status": "done",
        "total": 300,
        "done": 300,
        "created": 296,
        "updated": 0,
        "granted": 0,
        "refused": 4,
        "skipped": 0,
    }
    got = results(db, shop, import_id)
    assert got[12] == ("refused", "E-mail", "Ingresa un correo electrónico válido.")
    assert got[24] == ("refused", "E-mail", "Este correo también está en la fila 22.")
    assert got[32] == (
        "refused",
        "Documento de identidad",
        "Este documento también está en la fila 3.",
    )
    assert got[7] == ("refused", "E-mail", "Este correo electrónico ya pertenece a un cliente.")
    members = members_by_email(db, shop)
    assert len(members) == 297  # 296 created and the one we had
    assert (
        members["c5@example.com"].first_name == "Vieja" and members["c5@example.com"].balance == 0
    )
    assert members["c3@example.com"].id != theirs.id and members["c3@example.com"].balance == 3
    assert members["c299@example.com"].balance == 299
    with db(shop) as session:
        created = {r.member_id for r in session.scalars(select(ImportRow))} - {None}
        assert len(created) == 296  # each created row names its member (for invitations)
        assert session.scalar(select(func.count(Entry.id))) == 295  # c0 has 0: no entry
        assert {e.kind for e in session.scalars(select(Entry))} == {"opening"}
    ledger_agrees(db, shop)
    with db(other) as session:  # the other merchant's same e-mail: untouched
        still = session.get(Membership, theirs.id)
        assert (still.first_name, still.balance, still.document_id) == ("Secreta", 0, "D3")

    # The same file again: nothing created; with "update existing" the names change and
    # no opening balance is given twice.
    again = import_file(db, shop, path, "customers")
    assert counts(db, shop, again)["created"] == 0 and counts(db, shop, again)["refused"] == 300
    rows[3][0] = "Nueva"  # row 4: c2
    updated = import_file(db, shop, write_csv(rows), "customers", update=True)
    assert counts(db, shop, updated)["updated"] == 297
    assert results(db, shop, updated)[4] == (
        "updated",
        None,
        "El saldo inicial ya se había dado; no se da de nuevo.",
    )
    members = members_by_email(db, shop)
    assert members["c2@example.com"].first_name == "Nueva"
    assert members["c2@example.com"].balance == 2
    assert members["c5@example.com"].balance == 5  # its first opening balance
    ledger_agrees(db, shop)


@pytest.mark.postgres
def test_points_take_the_set_based_path_once_per_file(
    app, db, shop, write_csv, make_member, monkeypatch
):
    people = [make_member(shop, email=f"m{i}@example.com", document_id=f"D{i}") for i in range(40)]
    # The import's own statements are counted: the jobs its announcements queue (points
    # e-mails…) are listed, not run (test_announcing runs them).
    platform, queued = app.extensions["premia"], []
    real = platform.jobs.enqueue

    def only_the_import(job, *args):
        queued.append(job.__name__)
        return real(job, *args) if job.__name__ == "run_import" else None

    monkeypatch.setattr(platform.jobs, "enqueue", only_the_import)
    rows = [["Código", "Correo", "Documento", "Puntos", "Monto", "Descripción", "Referencia"]]
    for i, person in enumerate(people):
        by = [[person.code, "", ""], ["", person.email.upper(), ""], ["", "", f"D{i}"]][i % 3]
        rows.append([*by, str(i + 1), "", "Campaña", f"R-{i}"])
    rows.append(["", "m0@example.com", "", "7", "", "", ""])  # row 42: m0 a second time
    rows.append(["", "m1@example.com", "", "", "25.000", "", ""])  # row 43: an amount
    rows.append(["", "nadie@example.com", "", "5", "", "", ""])  # row 44: nobody
    rows.append(["ZZZZZZZ", "", "", "4", "", "", ""])  # row 45: unknown code
    path = write_csv(rows)
    with Statements(app) as sent:
        import_id = import_file(db, shop, path, "points")
    assert sent.count < 120  # the amount row alone goes the till's way
    # The 41 credits written set-based told by one job (one chunk), the amount row's by
    # its own, as the till's.
    assert queued.count("mail_points_received") == 1 and queued.count("mail_member") == 1
    assert counts(db, shop, import_id) == {
        "status": "done",
        "total": 44,
        "done": 44,
        "created": 0,
        "updated": 0,
        "granted": 42,
        "refused": 2,
        "skipped": 0,
    }
    got = results(db, shop, import_id)
    assert got[44] == ("refused", "Correo", "No existe ningún cliente con este correo.")
    assert got[45] == ("refused", "Código", "No existe ningún cliente con este código.")
    members = members_by_email(db, shop)
    assert members["m0@example.com"].balance == 1 + 7
    assert members["m1@example.com"].balance == 2 + 25
    assert members["m39@example.com"].balance == 40
    with db(shop) as session:
        entry = session.scalar(select(Entry).where(Entry.reference == "R-5"))
        assert (entry.kind, entry.points, entry.description) == ("earn", 6, "Campaña")
        assert session.scalar(select(func.count(Purchase.id))) == 1
    ledger_agrees(db, shop)
    again = import_file(db, shop, path, "points")  # a second upload gives nothing
    assert counts(db, shop, again)["granted"] == 0 and counts(db, shop, again)["skipped"] == 42
    assert results(db, shop, again)[2] == (
        "skipped",
        None,
        "Ya se dio en una importación anterior de este mismo archivo; no se da de nuevo.",
    )
    assert members_by_email(db, shop)["m0@example.com"].balance == 8
    ledger_agrees(db, shop)


@pytest.mark.postgres
def test_a_batch_over_the_balance_limit_goes_row_by_row(db, shop, write_csv, make_member):
    from core.loyalty.ledger.operations import MAX_BALANCE

    rich, poor = make_member(shop), make_member(shop)
    with db(shop) as session:
        session.get(Membership, rich.id).balance = MAX_BALANCE - 1  # lots do not matter here
        session.commit()
    path = write_csv([["codigo", "puntos"], [poor.code, "5"], [rich.code, "2"]])
    import_id = import_file(db, shop, path, "points")
    got = results(db, shop, import_id)
    assert got[2][0] == "granted" and got[3][0] == "refused"  # one row refused, not the batch
    with db(shop) as session:
        assert session.get(Membership, poor.id).balance == 5
        assert session.get(Membership, rich.id).balance == MAX_BALANCE - 1


def customer_as_left(session, member: Membership) -> tuple:
    """What an import leaves of a customer, apart from ids and codes: their record,
    balance, entries (keys named by what they are), lots."""
    names = {
        system_key("welcome", member.id): "welcome key",
        importing.opening_key(member.id): "opening key",
    }
    entries = [
        (
            e.kind,
            e.points,
            e.balance_after,
            names.get(e.idempotency_key, e.idempotency_key),
            e.fingerprint is None,
            e.actor_kind,
            e.actor_id,
            e.description,
            e.reference,
        )
        for e in session.scalars(
            select(Entry).where(Entry.member_id == member.id).order_by(Entry.id)
        )
    ]
    lots = [
        (lot.points, lot.remaining, lot.expires_at is None)
        for lot in session.scalars(select(Lot).where(Lot.member_id == member.id).order_by(Lot.id))
    ]
    return (
        member.first_name,
        member.last_name,
        member.document_id,
        member.phone,
        member.birthday,
        member.balance,
        member.joined_via,
        member.search_text.removeprefix(member.code.lower()),
        entries,
        lots,
    )


def test_both_paths_leave_a_customer_the_same(
    app, db, make_tenant, make_member, write_csv, smtp_server, monkeypatch
):
    """The same file imported by the set-based path (PostgreSQL's) and row by row (the
    embedded default's), each into a merchant of its own giving welcome points: the
    same rows refused, the same customers with the same entries, welcome points
    first, and the same welcome e-mails, queued a batch at a time, not one job each."""
    path = write_csv(
        [
            HEADER,
            ["Ana", "Núñez", "ana@example.com", "1020", "300 1", "31/12/1990", "1.250"],
            ["Bea", "Ruiz", "bea@example.com", "", "", "", "0"],  # no opening balance
            ["Cid", "Mora", "no-es-correo", "", "", "", "3"],  # row 4: refused
            ["Dan", "Paz", "vieja@example.com", "", "", "", "5"],  # row 5: a member already
            ["Eva", "Gil", "eva@example.com", "1024", "", "1990-02-03", "7"],
            ["Fer", "Luz", "ANA@example.com", "", "", "", ""],  # row 7: the e-mail of row 2
        ]
    )
    queued: list[str] = []
    runner = app.extensions["premia"].jobs
    real = runner.enqueue

    def spy(job, *args):
        queued.append(job.__name__)
        return real(job, *args)

    monkeypatch.setattr(runner, "enqueue", spy)
    left = {}
    for slug, bulk in (("por-lotes", True), ("por-filas", False)):
        shop = make_tenant(slug=slug, name=f"Tienda {slug}", plan="white-label")
        make_member(shop, email="vieja@example.com", first_name="Vieja")
        with db(shop) as session:
            update_program(session, {"welcome_points": 25})
            session.commit()
        monkeypatch.setattr(importing, "set_based", lambda _session, bulk=bulk: bulk)
        smtp_server.handler.messages.clear()
        queued.clear()
        import_id = import_file(db, shop, path, "customers")
        mails = smtp_server.handler.wait_for(3)
        with db(shop) as session:
            members = {
                m.email: customer_as_left(session, m)
                for m in session.scalars(select(Membership).where(Membership.joined_via != "staff"))
            }
        left[bulk] = {
            "counts": counts(db, shop, import_id),
            "results": results(db, shop, import_id),
            "members": members,
            "welcomed": sorted(m["To"] for m in mails),
            "jobs": sorted(queued),
        }
        ledger_agrees(db, shop)

    assert left[True] == left[False]
    got = left[True]
    assert (got["counts"]["created"], got["counts"]["refused"]) == (3, 3)
    assert {row for row, result in got["results"].items() if result[0] == "refused"} == {4, 5, 7}
    ana = got["members"]["ana@example.com"]
    assert ana[5] == 1275 and ana[8] == [
        ("welcome", 25, 25, "welcome key", True, "system", None, None, None),
        ("opening", 1250, 1275, "opening key", False, "system", None, None, None),
    ]
    assert got["members"]["bea@example.com"][8] == [
        ("welcome", 25, 25, "welcome key", True, "system", None, None, None)
    ]
    assert got["welcomed"] == ["ana@example.com", "bea@example.com", "eva@example.com"]
    # One welcome job for the batch (and the import's own), not one per customer.
    assert got["jobs"] == ["mail_welcomes", "run_import"]


@pytest.mark.postgres
def test_batches_written_at_once_resume_after_a_writer_killed_out_of_order(
    db, shop, write_csv, monkeypatch
):
    """Two writers: the batch of rows 2–6 dies in its writer while the others commit;
    the retry does exactly the rows left, even with rows done after them."""
    rows = [HEADER] + [[f"N{i}", "X", f"c{i}@example.com", f"D{i}", "", "", "5"] for i in range(25)]
    rows[20][2] = "c0@example.com"  # row 21: row 2's e-mail, in a later batch
    path = write_csv(rows)
    real = importing.CustomerRows.bulk
    written = threading.Event()

    def dying(self, valid):
        if valid[0][0] == 2:  # the first batch: killed once a later one has committed
            written.wait(10)
            raise KeyboardInterrupt
        outcomes = real(self, valid)
        self.session.info.setdefault("after", []).append(written.set)
        return outcomes

    monkeypatch.setattr(importing, "BULK_BATCH", 5)
    monkeypatch.setattr(importing, "WRITERS", 2)
    monkeypatch.setattr(importing.CustomerRows, "bulk", dying)
    committed = importing._do_batch

    def do_batch(session, *args, **kwargs):
        committed(session, *args, **kwargs)
        for signal in session.info.pop("after", []):
            signal()

    monkeypatch.setattr(importing, "_do_batch", do_batch)
    with pytest.raises(KeyboardInterrupt):
        import_file(db, shop, path, "customers")
    with db(shop) as session:
        import_id = session.scalar(select(Import.id))
        done = set(session.scalars(select(ImportRow.row)))
        assert done and not done & {2, 3, 4, 5, 6}  # a gap before rows done
        assert session.scalar(select(Import.done).where(Import.id == import_id)) == len(done)
    monkeypatch.setattr(importing.CustomerRows, "bulk", real)
    from plugins.csv_import.jobs import run_import

    run_import(shop.id, import_id)
    assert counts(db, shop, import_id) == {
        "status": "done",
        "total": 25,
        "done": 25,
        "created": 24,
        "updated": 0,
        "granted": 0,
        "refused": 1,
        "skipped": 0,
    }
    got = results(db, shop, import_id)
    assert got[21] == ("refused", "E-mail", "Este correo también está en la fila 2.")
    with db(shop) as session:
        assert session.scalar(select(func.count(ImportRow.id))) == 25  # each row once
        assert session.scalar(select(func.count(Membership.id))) == 24
        assert session.scalar(select(func.sum(Lot.remaining))) == 120
    ledger_agrees(db, shop)
