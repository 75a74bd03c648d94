"""A merchant's data export: a job writes a ZIP archive of everything the merchant owns,
one CSV per table (the core's and its plugins'), and the merchant's profile as JSON.

The job runs in a session scoped to that merchant, so every table is read through the
tenancy guard: another merchant's row cannot get in. Secrets are left out (password,
token and session hashes, TOTP secrets), and so are people's accounts beyond the e-mail
of the merchant's own members.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.host.db import Base, is_tenant_owned, platform_session, utcnow
from core.host.platform import current_platform
from core.loyalty.members import Customer
from core.operator import audit
from core.operator.models import DataExport, Operator
from core.web.spreadsheet import csv_lines
from tenants.models import Tenant
from worker.jobs import enqueue, platform_job, tenant_job

log = logging.getLogger(__name__)

# Never exported: what opens an account or a session, whoever holds the archive.
SECRET_WORDS = ("hash", "secret", "token", "stamp")
SECRET_TABLES_END = "_sessions"
# An archive holds people's data: kept long enough to be downloaded, then deleted.
KEPT = timedelta(days=7)
PROFILE = [
    "id",
    "slug",
    "name",
    "business_type",
    "email",
    "phone",
    "whatsapp",
    "description",
    "country",
    "currency",
    "timezone",
    "language",
    "domain",
    "theme",
    "created_at",
    "suspended_at",
]


def folder() -> Path:
    return Path(current_app.instance_path) / "exports"


def start(session: Session, tenant: Tenant, *, by: Operator, address: str | None) -> DataExport:
    """Queue an export of `tenant` (the job runs after the commit), audited."""
    export = DataExport(merchant_id=tenant.id, operator_id=by.id)
    session.add(export)
    session.flush()
    audit.record(session, by, "export_start", address=address, merchant=tenant, export=export.id)
    enqueue(session, make_archive, tenant.id, export.id)
    return export


def path_of(export: DataExport) -> Path | None:
    """The archive's file, when the export is done and the file is there."""
    if export.status != "done" or not export.file_name:
        return None
    path = folder() / export.file_name
    return path if path.is_file() else None


def _columns(table: Any) -> list[Any]:
    return [c for c in table.columns if not any(word in c.name for word in SECRET_WORDS)]


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def tables() -> list[tuple[str, type]]:
    """The merchant-owned models of the running app (core and plugins), by table name."""
    found = {
        mapper.local_table.name: mapper.class_
        for mapper in Base.registry.mappers
        if is_tenant_owned(mapper.class_)
        and not mapper.local_table.name.endswith(SECRET_TABLES_END)
    }
    return sorted(found.items())


def write_archive(session: Session, tenant: Tenant, target: io.BufferedIOBase | Any) -> dict:
    """Write the archive of `tenant` (`session` is scoped to it) to `target`; returns the
    row count per file."""
    counts: dict[str, int] = {}
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        profile = {name: _cell(getattr(tenant, name)) for name in PROFILE}
        profile["plan"] = tenant.plan.code
        archive.writestr("merchant.json", json.dumps(profile, ensure_ascii=False, indent=2))
        for name, model in tables():
            columns = _columns(model.__table__)
            keys = [c.key for c in columns]
            rows = session.execute(
                select(*[getattr(model, k) for k in keys]).order_by(model.__table__.c.id)
                if "id" in model.__table__.c
                else select(*[getattr(model, k) for k in keys])
            )
            count = 0

            def cells(rows: Any = rows) -> Any:
                nonlocal count
                for row in rows:
                    count += 1
                    yield [_cell(v) for v in row]

            with archive.open(f"{name}.csv", "w") as out:
                for line in csv_lines([c.name for c in columns], cells()):
                    out.write(line.encode())
            counts[f"{name}.csv"] = count
        # The people behind the memberships: their e-mail only (the account is theirs).
        people = session.execute(select(Customer.id, Customer.email).order_by(Customer.id))
        emails = [[cid, email] for cid, email in people]
        with archive.open("customers.csv", "w") as out:
            for line in csv_lines(["id", "email"], emails):
                out.write(line.encode())
        counts["customers.csv"] = len(emails)
        archive.writestr("manifest.json", json.dumps({"files": counts}, indent=2))
    return counts


@tenant_job(queue="bulk", while_suspended=True)
def make_archive(session: Session, tenant: Tenant, export_id: int) -> str | None:
    """The job: write the archive, then mark the export done (or failed, with why)."""
    export = session.get(DataExport, export_id)
    if export is None or export.merchant_id != tenant.id or export.status == "done":
        return None  # gone, not this merchant's, or a retried job whose work is done
    export.status = "running"
    session.commit()
    name = f"{tenant.id}/{tenant.slug}-{utcnow():%Y%m%d-%H%M%S}-{secrets.token_hex(6)}.zip"
    path = folder() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("wb") as target:
            write_archive(session, tenant, target)
    except Exception as exc:
        session.rollback()
        path.unlink(missing_ok=True)
        export.status = "failed"
        export.error = repr(exc)[:2000]
        export.finished_at = utcnow()
        session.commit()
        raise
    export.status = "done"
    export.file_name = name
    export.size = path.stat().st_size
    export.finished_at = utcnow()
    return name


def recent(session: Session, merchant_id: int, limit: int = 10) -> list[DataExport]:
    return list(
        session.scalars(
            select(DataExport)
            .where(DataExport.merchant_id == merchant_id)
            .order_by(DataExport.id.desc())
            .limit(limit)
        )
    )


@platform_job(queue="bulk")
def forget_old_archives() -> int:
    """Delete the archives finished more than `KEPT` ago; their exports stay listed, expired."""
    with platform_session(current_platform().sessions) as session:
        old = session.scalars(
            select(DataExport).where(
                DataExport.status == "done", DataExport.finished_at <= utcnow() - KEPT
            )
        ).all()
        for export in old:
            if export.file_name:
                (folder() / export.file_name).unlink(missing_ok=True)
            export.status = "expired"
            export.file_name = None
        session.commit()
    return len(old)
