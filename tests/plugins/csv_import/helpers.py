"""Running an import as the panel does, without a browser: accept, start, run."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from sqlalchemy import select

from plugins.csv_import import importing, jobs
from plugins.csv_import.models import Import, ImportRow


def import_file(
    db, tenant, path: Path, kind: str, *, update: bool = False, invite: bool = False, **extra
) -> int:
    """Accept and start an import of `path` (the embedded runner does it on commit)."""
    with db(tenant) as session:
        folder = importing.upload_folder(tenant.id)
        folder.mkdir(parents=True, exist_ok=True)
        stored = folder / f"{uuid.uuid4().hex}.csv"
        shutil.copyfile(path, stored)
        imported = importing.accept(
            session, tenant, kind=kind, path=stored, filename=path.name, **extra
        )
        importing.start(session, imported, update_existing=update, invite=invite)
        jobs.queue_run(session, imported)  # run by the embedded runner on commit
        import_id = imported.id
        session.commit()
    return import_id


def results(db, tenant, import_id: int) -> dict[int, tuple[str, str | None, str | None]]:
    with db(tenant) as session:
        rows = session.scalars(select(ImportRow).where(ImportRow.import_id == import_id))
        return {r.row: (r.status, r.column, r.message) for r in rows}


def counts(db, tenant, import_id: int) -> dict[str, int]:
    with db(tenant) as session:
        i = session.get(Import, import_id)
        return {
            "status": i.status,
            "total": i.total,
            "done": i.done,
            "created": i.created,
            "updated": i.updated,
            "granted": i.granted,
            "refused": i.refused,
            "skipped": i.skipped,
        }
