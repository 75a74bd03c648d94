"""Mi perfil: the logged-in staff member's name, e-mail and password."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from core.host.errors import PremiaError
from core.loyalty.staff import StaffUser, normalize_email
from core.panel.access import staff_required
from core.web import accounts
from core.web.request import db


class ProfileForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Required.")), Length(max=160)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(_l("Required."))])
    current_password = PasswordField(_l("Current password"))
    new_password = PasswordField(_l("New password"))
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[EqualTo("new_password", _l("The passwords do not match."))],
    )


def make_blueprint() -> Blueprint:
    bp = Blueprint("panel_profile", __name__, url_prefix="/panel/profile")
    bp.route("/", methods=["GET", "POST"])(profile)
    return bp


@staff_required()
def profile() -> Any:
    user: StaffUser = db().get(StaffUser, current_user.user.id)
    form = ProfileForm(obj=user)
    if form.validate_on_submit():
        try:
            _apply(user, form)
        except PremiaError as error:
            db().rollback()
            for field, message in (error.fields or {"name": error.message}).items():
                getattr(form, field, form.name).errors.append(str(message))
        else:
            db().commit()
            flash(_("Your profile was saved."), "success")
            return redirect(url_for(".profile"))
    return render_template("panel/profile.html", form=form), (422 if form.errors else 200)


def _apply(user: StaffUser, form: ProfileForm) -> None:
    from sqlalchemy import func, select

    email = normalize_email(form.email.data)
    if email != user.email and db().scalar(
        select(StaffUser.id).where(func.lower(StaffUser.email) == email, StaffUser.id != user.id)
    ):
        from core.host.errors import Conflict

        raise Conflict(
            _l("There is already a staff member with this e-mail."),
            email=_l("There is already a staff member with this e-mail."),
        )
    if email != user.email or form.new_password.data:
        # Changing the login itself needs the current password.
        accounts.change_password(
            db(),
            user,
            form.current_password.data,
            form.new_password.data or form.current_password.data,
            keep=current_user.staff_session,
        )
    user.name = form.name.data.strip()
    user.email = email
