"""The import's jobs: the rows on the bulk queue; the report and the invitations on
the mail queue, once the rows are done."""

from __future__ import annotations

import time

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.sdk import (
    Tenant,
    build_message,
    csv_lines,
    delimiter_for,
    enqueue,
    render_mail,
    send_invitation,
    send_mail,
    tenant_job,
    utcnow,
)
from plugins.csv_import import importing
from plugins.csv_import.models import CREATED, Import, ImportRow

# Invitations leave one at a time, this many seconds apart (the merchant's sending
# reputation: a thousand e-mails at once from a new sender look like spam).
INVITATION_PAUSE = 0.5


def queue_run(session: Session, imported: Import) -> None:
    enqueue(session, run_import, imported.tenant_id, imported.id)


@tenant_job(queue="bulk", plugin="csv_import")
def run_import(session: Session, tenant: Tenant, import_id: int) -> str | None:
    """Do the rows not done yet (a retry after a kill resumes where the last commit was)."""
    imported = session.get(Import, import_id)
    if imported is None:
        return None
    importing.run(session, tenant, imported, after=after_run)
    return imported.status


def after_run(session: Session, imported: Import) -> None:
    """Once the rows are done: the report to the uploader, then the invitations."""
    if imported.report_to:
        enqueue(session, send_report, imported.tenant_id, imported.id)
    if imported.invite:
        enqueue(session, send_invitations, imported.tenant_id, imported.id)


@tenant_job(queue="mail", plugin="csv_import")
def send_report(session: Session, tenant: Tenant, import_id: int) -> bool:
    """The counts, with the result CSV attached, in the merchant's language."""
    imported = session.get(Import, import_id)
    if imported is None or not imported.report_to:
        return False
    subject, text, html = render_mail(tenant, "csv_import/mail/report", None, imported=imported)
    message = build_message(tenant, imported.report_to, subject, text, html)
    language = tenant.language
    from flask_babel import force_locale

    with force_locale(language):
        header = [
            str(cell) for cell in importing.result_header(importing.table_of(imported).header)
        ]
        body = "".join(
            csv_lines(
                header,
                importing.result_rows(session, imported),
                delimiter=delimiter_for(importing.number_locale(tenant)),
            )
        )
    message.add_attachment(
        body.encode("utf-8"),
        maintype="text",
        subtype="csv",
        filename=report_filename(imported),
    )
    send_mail(message)
    return True


def report_filename(imported: Import) -> str:
    stem = imported.filename.rsplit(".", 1)[0] or "import"
    return f"{stem}-result.csv"


@tenant_job(queue="mail", plugin="csv_import")
def send_invitations(session: Session, tenant: Tenant, import_id: int) -> int:
    """An invitation to each customer the import created, one at a time; each sent one
    is marked (committed) first, so a retry sends the rest, not the same twice."""
    pause = current_app.config.get("PREMIA_CSV_IMPORT_INVITATION_PAUSE", INVITATION_PAUSE)
    sent = 0
    while True:
        row = session.scalar(
            select(ImportRow)
            .where(
                ImportRow.import_id == import_id,
                ImportRow.status == CREATED,
                ImportRow.invited_at.is_(None),
                ImportRow.member_id.is_not(None),
            )
            .order_by(ImportRow.row)
            .limit(1)
        )
        if row is None:
            return sent
        row.invited_at = utcnow()
        member_id = row.member_id
        session.commit()
        if sent:
            time.sleep(pause)
        send_invitation(tenant.id, member_id)
        sent += 1
