"""Empleados: the merchant's staff (owners, admins, employees), for managers only.

The rules (an admin may not create or change an owner, the last active owner
stays) live in `core.loyalty.staff`; this screen shows them as form errors or a 403.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from core.host.errors import Forbidden, PremiaError
from core.loyalty.locations import Location
from core.loyalty.staff import Role, StaffUser, create_staff, update_staff
from core.panel import menu
from core.panel.access import MANAGERS, staff_required
from core.panel.formkit import get_or_404, show_errors
from core.web.passwords import MIN_LENGTH
from core.web.request import db

menu.register(menu.MenuItem("t.panel_staff.index", _l("Staff"), roles=MANAGERS, order=70))

ROLE_LABELS = {
    Role.OWNER: _l("Owner"),
    Role.ADMIN: _l("Administrator"),
    Role.EMPLOYEE: _l("Employee"),
}


class StaffForm(FlaskForm):
    name = StringField(
        _l("Name"), validators=[DataRequired(_l("The name is required.")), Length(max=160)]
    )
    email = EmailField(
        _l("E-mail"),
        validators=[DataRequired(_l("Enter a valid e-mail address.")), Length(max=254)],
    )
    role = SelectField(_l("Role"), default=Role.EMPLOYEE.value)
    location_id = SelectField(
        _l("Location"), coerce=lambda v: int(v) if v else None, validate_choice=False
    )
    password = PasswordField(_l("Password"), validators=[Optional()])
    active = BooleanField(_l("Active (may log in)"), default=True)


def make_blueprint() -> Blueprint:
    bp = Blueprint("panel_staff", __name__, url_prefix="/panel/staff")
    bp.get("/")(index)
    bp.route("/new", methods=["GET", "POST"])(new)
    bp.route("/<int:user_id>", methods=["GET", "POST"])(edit)
    bp.post("/<int:user_id>/active")(toggle)
    return bp


@staff_required(*MANAGERS)
def index() -> Any:
    session = db()
    users = session.scalars(
        select(StaffUser).order_by(StaffUser.active.desc(), StaffUser.name, StaffUser.id)
    ).all()
    locations = {loc.id: loc for loc in session.scalars(select(Location))}
    return render_template(
        "panel/staff/index.html",
        users=users,
        locations=locations,
        roles=ROLE_LABELS,
        me=current_user.user,
    )


@staff_required(*MANAGERS)
def new() -> Any:
    form = _form(None)
    if form.validate_on_submit() and _has_password(form):
        session = db()
        try:
            user = create_staff(
                session,
                email=form.email.data,
                name=form.name.data,
                password=form.password.data,
                role=form.role.data,
                location_id=form.location_id.data,
                by=current_user.user,
            )
            session.commit()
        except PremiaError as error:
            session.rollback()
            show_errors(form, error, fallback="email")
        else:
            flash(str(_l("%(name)s can now log in.", name=user.name)), "success")
            return redirect(url_for(".index"))
    return render_template("panel/staff/form.html", form=form, user=None)


@staff_required(*MANAGERS)
def edit(user_id: int) -> Any:
    session = db()
    user = get_or_404(session, StaffUser, user_id)
    if user.role == Role.OWNER and current_user.role != Role.OWNER:
        abort(403)  # an admin may not change an owner
    form = _form(user)
    if form.validate_on_submit():
        changes = {
            "name": form.name.data,
            "email": form.email.data,
            "role": form.role.data,
            "location_id": form.location_id.data,
            "active": bool(form.active.data),
            "password": form.password.data or None,
        }
        try:
            update_staff(session, user, by=current_user.user, **changes)
            session.commit()
        except PremiaError as error:
            session.rollback()
            show_errors(form, error, fallback="role")
        else:
            flash(str(_l("Changes to %(name)s saved.", name=user.name)), "success")
            return redirect(url_for(".index"))
    return render_template("panel/staff/form.html", form=form, user=user)


@staff_required(*MANAGERS)
def toggle(user_id: int) -> Any:
    session = db()
    user = get_or_404(session, StaffUser, user_id)
    try:
        update_staff(session, user, by=current_user.user, active=not user.active)
        session.commit()
    except Forbidden:
        abort(403)
    except PremiaError as error:
        session.rollback()
        flash(str(error.message), "error")
    else:
        message = (
            _l("%(name)s can log in again.", name=user.name)
            if user.active
            else _l("%(name)s was deactivated and can no longer log in.", name=user.name)
        )
        flash(str(message), "success")
    return redirect(url_for(".index"))


def _has_password(form: StaffForm) -> bool:
    """A new staff member needs a password (an edit keeps the old one when empty)."""
    if form.password.data:
        return True
    form.password.errors.append(
        str(_l("The password needs at least %(n)d characters.", n=MIN_LENGTH))
    )
    return False


def _form(user: StaffUser | None) -> StaffForm:
    form = StaffForm(obj=user)
    roles = [Role.ADMIN, Role.EMPLOYEE]
    if current_user.role == Role.OWNER:  # only an owner may make someone an owner
        roles.insert(0, Role.OWNER)
    form.role.choices = [SelectChoice(role.value, ROLE_LABELS[role]) for role in roles]
    locations = db().scalars(select(Location).order_by(Location.name)).all()
    form.location_id.choices = [SelectChoice("", _l("Any location"))] + [
        SelectChoice(str(loc.id), loc.name)
        for loc in locations
        if loc.active or (user is not None and user.location_id == loc.id)
    ]
    if user is not None:
        form.password.description = _l("Leave it empty to keep the current password.")
    return form
