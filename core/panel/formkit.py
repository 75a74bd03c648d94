"""Small helpers shared by the panel's form screens: a service's field errors onto a
WTForms form, a tenant's row by id or 404, an uploaded image's stored name, and saving
a row together with its image."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, g
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage
from wtforms import IntegerField
from wtforms.validators import StopValidation

from core.host.errors import PremiaError
from core.web import uploads

T = TypeVar("T")

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

    def pre_validate(self, form: Any) -> None:
        # Not a number: that one message, not also the range's about a missing value.
        if self.process_errors:
            raise StopValidation()


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


def save_with_image(
    session: Session,
    form: FlaskForm,
    write: Callable[[dict[str, str | None]], T],
    *,
    current: str | None = None,
    fallback: str | None = None,
) -> T | None:
    """Store the form's uploaded `image`, write the row with `write` and commit; the row
    written, or None when refused (rolled back, the errors shown on the form).

    `write` gets `{"image": name}` when the form sets a new image or ticks `remove_image`
    (name None), else `{}`, and passes it on to its service. `current` is the row's image
    before the change. The file is stored before the row that names it, so a refusal (or
    any error) must delete the new file; the file it replaces is deleted only after the
    commit succeeded, because until then the row still names it.
    """
    image = None
    try:
        image = store_upload(form.image.data, "image")
        change: dict[str, str | None] = {"image": image} if image or form.remove_image.data else {}
        row = write(change)
        session.commit()
    except PremiaError as error:
        session.rollback()
        uploads.delete_image(g.tenant.id, image)
        show_errors(form, error, fallback=fallback)
        return None
    except BaseException:
        # Anything else (a lost database, a bug) names the new file nowhere either.
        session.rollback()
        uploads.delete_image(g.tenant.id, image)
        raise
    if change and current != image:
        uploads.delete_image(g.tenant.id, current)
    return row
