"""Small helpers shared by the panel's form screens: a service's field errors onto a
WTForms form, a tenant's row by id or 404, an uploaded image's stored name."""

from __future__ import annotations

from typing import Any

from flask import abort, g
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage
from wtforms import IntegerField

from core import uploads
from core.errors import PremiaError

MAX_ID = 2**31 - 1  # ids are 32-bit integers: a larger one in a URL is simply not found


class WholeNumberField(IntegerField):
    """An integer input whose refusal reads in the user's language ("1.000" is not one)."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = (valuelist[0] if valuelist else "") or ""
        text = text.strip() if isinstance(text, str) else text
        if text in ("", None):
            self.data = None
            return
        try:
            self.data = int(text)
        except (TypeError, ValueError):
            self.data = None
            raise ValueError(str(_l("Enter a whole number."))) from None


def get_or_404(session: Session, model: type, row_id: int) -> Any:
    """The row of the request's tenant with this id (the session is tenant-scoped), or 404."""
    if not 0 < row_id <= MAX_ID:
        abort(404)
    row = session.get(model, row_id)
    if row is None:
        abort(404)
    return row


def show_errors(form: FlaskForm, error: PremiaError, fallback: str | None = None) -> None:
    """Put a service's refusal on the form: each field's message under its field, the
    rest (and a message without fields) under `fallback` or the form itself."""
    if not error.fields:
        form.form_errors.append(str(error.message))
    for name, message in error.fields.items():
        field = getattr(form, name, None) or (getattr(form, fallback) if fallback else None)
        if field is None or not hasattr(field, "errors"):
            form.form_errors.append(str(message))
        else:
            if isinstance(field.errors, tuple):  # WTForms leaves a tuple before validation
                field.errors = list(field.errors)
            field.errors.append(str(message))


def uploaded(storage: FileStorage | None) -> bool:
    return bool(storage and getattr(storage, "filename", ""))


def store_upload(storage: FileStorage | None, field: str) -> str | None:
    """Check and keep an uploaded image of the request's tenant (InvalidInput if refused);
    None when no file was chosen."""
    if not uploaded(storage):
        return None
    return uploads.save_image(g.tenant.id, storage.stream, field=field)
