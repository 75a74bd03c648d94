"""A merchant's data export: a job writes a ZIP with one CSV per table of that merchant
only (no other merchant's rows, no secrets), downloadable from the console; audited."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import timedelta

from sqlalchemy import select

from core.host.actors import Actor
from core.host.db import platform_session
from core.loyalty import ledger
from core.operator import exports
from core.operator.models import AuditEntry, DataExport
from tests.core.operator.conftest import text


def _rows(archive: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    data = archive.read(name).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(data)))


def test_an_export_holds_the_merchants_data_and_nothing_else(
    console, make_tenant, make_member, db, platform
):
    shop = make_tenant(slug="cafe-export", name="Café Export")
    other = make_tenant(slug="bar-ajeno")
    ana = make_member(shop, email="ana@mail.example", first_name="Ana")
    make_member(other, email="eva@mail.example", first_name="Eva")
    with db(shop) as session:
        ledger.earn(session, session.merge(ana), points=75, actor=Actor.system())
        session.commit()

    answer = console.post(f"/operator/merchants/{shop.id}/exports")
    assert answer.status_code == 302
    page = text(console.get(f"/operator/merchants/{shop.id}"))
    link = re.search(r'href="(/operator/exports/\d+)"', page)
    assert link, "the finished export is offered for download"
    download = console.get(link.group(1))
    assert download.status_code == 200
    assert download.mimetype == "application/zip"

    archive = zipfile.ZipFile(io.BytesIO(download.data))
    merchant = json.loads(archive.read("merchant.json"))
    assert merchant["slug"] == "cafe-export" and merchant["plan"] == "free"
    members = _rows(archive, "memberships.csv")
    assert [m["first_name"] for m in members] == ["Ana"]
    assert {m["tenant_id"] for m in members} == {str(shop.id)}
    entries = _rows(archive, "ledger_entries.csv")
    assert [(e["kind"], e["points"]) for e in entries] == [("earn", "75")]
    assert [c["email"] for c in _rows(archive, "customers.csv")] == ["ana@mail.example"]
    staff = _rows(archive, "staff_users.csv")
    assert len(staff) == 1 and "password_hash" not in staff[0]
    assert not any(n.endswith("_sessions.csv") for n in archive.namelist())
    everything = b"".join(archive.read(n) for n in archive.namelist())
    assert b"eva@mail.example" not in everything and b"Eva" not in everything
    assert json.loads(archive.read("manifest.json"))["files"]["memberships.csv"] == 1

    with platform_session(platform.sessions) as session:
        actions = [
            (e.action, e.merchant_id)
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            if e.action.startswith("export")
        ]
        export = session.scalars(select(DataExport)).one()
    assert actions == [("export_start", shop.id), ("export_download", shop.id)]
    assert export.status == "done" and export.size == len(download.data)


def test_an_unfinished_or_unknown_export_is_not_served(console, make_tenant, platform):
    shop = make_tenant()
    with platform_session(platform.sessions) as session:
        queued = DataExport(merchant_id=shop.id, status="queued")
        session.add(queued)
        session.commit()
    assert console.get(f"/operator/exports/{queued.id}").status_code == 404
    assert console.get("/operator/exports/999999").status_code == 404


def test_archives_are_deleted_a_week_after_they_were_made(console, make_tenant, platform):
    shop = make_tenant(slug="cafe-old")
    assert console.post(f"/operator/merchants/{shop.id}/exports").status_code == 302
    with platform_session(platform.sessions) as session:
        export = session.scalars(select(DataExport)).one()
        path = exports.folder() / export.file_name
        assert path.is_file()
        export.finished_at -= exports.KEPT - timedelta(minutes=1)
        session.commit()
    assert exports.forget_old_archives() == 0  # six days and a bit: still there
    assert path.is_file()
    with platform_session(platform.sessions) as session:
        session.get(DataExport, export.id).finished_at -= timedelta(minutes=2)
        session.commit()
    assert exports.forget_old_archives() == 1
    assert not path.exists()
    assert console.get(f"/operator/exports/{export.id}").status_code == 404
    assert "Borrado a los 7 días" in text(console.get(f"/operator/merchants/{shop.id}"))
