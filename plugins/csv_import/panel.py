"""Importar in the panel (managers): upload a file, check the preview and the columns,
start; then the progress (a bar, rows done / total) and the report with the result CSV."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, abort, g, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, FileField, RadioField
from wtforms.validators import DataRequired

from core.sdk import (
    MANAGERS,
    InvalidInput,
    csv_lines,
    db,
    delimiter_for,
    money_locale,
    render_template,
    show_errors,
    staff_required,
)
from plugins.csv_import import importing, jobs
from plugins.csv_import.columns import FIELDS, LABELS
from plugins.csv_import.models import CUSTOMERS, DONE, POINTS, PREVIEW, QUEUED, RUNNING, Import

RECENT = 20
STATUS_LABELS = {
    PREVIEW: _l("Preview"),
    QUEUED: _l("Waiting to start"),
    RUNNING: _l("Importing"),
    DONE: _l("Finished"),
}


def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))


class UploadForm(FlaskForm):
    kind = RadioField(
        _l("The file holds"),
        choices=[(CUSTOMERS, _l("Customers")), (POINTS, _l("Points for customers"))],
        default=CUSTOMERS,
        validators=[DataRequired(_l("Choose what the file holds."))],
    )
    file = FileField(_l("CSV file"))


class StartForm(FlaskForm):
    update_existing = BooleanField(_l("Update existing customers"))
    invite = BooleanField(_l("Send each new customer an invitation by e-mail"))


def make_blueprint() -> Blueprint:
    bp = Blueprint("csv_import", __name__, url_prefix="/panel/import", template_folder="templates")
    bp.route("/", methods=["GET", "POST"])(index)
    bp.route("/<int:import_id>", methods=["GET", "POST"])(detail)
    bp.get("/<int:import_id>/result.csv")(result)
    return bp


def _recent() -> list[Import]:
    return list(db().scalars(select(Import).order_by(Import.id.desc()).limit(RECENT)))


@staff_required(*MANAGERS)
def index() -> Any:
    form = UploadForm()
    if form.validate_on_submit():
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            form.file.errors = [str(_l("Choose the CSV file to import."))]
        else:
            folder = importing.upload_folder(g.tenant.id)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{secrets.token_hex(16)}.csv"
            upload.save(path)
            session = db()
            try:
                imported = importing.accept(
                    session,
                    g.tenant,
                    kind=form.kind.data,
                    path=path,
                    filename=upload.filename,
                    staff_id=current_user.user.id,
                    report_to=current_user.user.email,
                )
            except InvalidInput as error:
                path.unlink(missing_ok=True)  # refused at once: nothing kept, nothing queued
                show_errors(form, error, fallback="file")
            else:
                session.commit()
                return redirect(url_for(".detail", import_id=imported.id))
    return render_template(
        "csv_import/index.html", form=form, imports=_recent(), status_label=status_label
    )


def _import(import_id: int) -> Import:
    imported = db().get(Import, import_id)  # the session is the tenant's: another's is None
    if imported is None:
        abort(404)
    return imported


@staff_required(*MANAGERS)
def detail(import_id: int) -> Any:
    imported = _import(import_id)
    if imported.status != PREVIEW:
        if request.method == "POST":
            return redirect(url_for(".detail", import_id=imported.id))
        return render_template(
            "csv_import/progress.html",
            imported=imported,
            refusals=importing.refusals(db(), imported),
            finished=imported.status == DONE,
            status_label=status_label,
        )
    table = importing.table_of(imported)
    form = StartForm()
    mapping = dict(imported.mapping)
    if form.validate_on_submit():
        chosen = {
            field: _column(request.form.get(f"column_{field}")) for field in FIELDS[imported.kind]
        }
        session = db()
        try:
            importing.choose_columns(imported, table.header, chosen)
            importing.start(
                session,
                imported,
                update_existing=form.update_existing.data,
                invite=form.invite.data,
            )
            jobs.queue_run(session, imported)
        except InvalidInput as error:
            session.rollback()
            imported = _import(import_id)
            mapping = {k: v for k, v in chosen.items() if v is not None}
            form.form_errors.extend(str(message) for message in error.fields.values())
        else:
            session.commit()
            return redirect(url_for(".detail", import_id=imported.id))
    return render_template(
        "csv_import/preview.html",
        imported=imported,
        form=form,
        header=table.header,
        rows=importing.preview_rows(table),
        total=None,
        fields=[(field, LABELS[field]) for field in FIELDS[imported.kind]],
        mapping=mapping,
    )


def _column(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        return -1  # refused by choose_columns with the field's message


@staff_required(*MANAGERS)
def result(import_id: int) -> Any:
    imported = _import(import_id)
    if imported.status != DONE:
        abort(404)
    session = db()
    header = importing.result_header(importing.table_of(imported).header)
    lines = csv_lines(
        [str(cell) for cell in header],
        # Read whole before answering: the request's session closes before a stream ends.
        list(importing.result_rows(session, imported)),
        delimiter=delimiter_for(money_locale()),
    )
    return Response(
        lines,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{jobs.report_filename(imported)}"'},
    )
