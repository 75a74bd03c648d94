"""Pages for staff accounts outside the panel: sign-up of a merchant and the way to
a program's login (on the platform's own host), and a forgotten password (on the
merchant's login)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length

from core.host.db import platform_session
from core.host.errors import PremiaError
from core.host.platform import current_platform
from core.web import accounts
from core.web.auth import allow_reset_request
from core.web.i18n import LANGUAGE_NAMES, country_choices, timezone_choices
from core.web.request import db

CURRENCIES = ["COP", "MXN", "ARS", "CLP", "PEN", "USD", "EUR", "BRL", "UYU", "GTQ", "CRC"]


class SignupForm(FlaskForm):
    name = StringField(
        _l("Business name"), validators=[DataRequired(_l("Required.")), Length(max=160)]
    )
    slug = StringField(
        _l("Address of your program"), validators=[DataRequired(_l("Required.")), Length(max=60)]
    )
    business_type = StringField(_l("Type of business"), validators=[Length(max=80)])
    owner_name = StringField(_l("Your name"), validators=[Length(max=160)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(_l("Required."))])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Required."))])
    currency = SelectField(
        _l("Currency"), choices=[SelectChoice(c, c) for c in CURRENCIES], default="COP"
    )
    # Configuración's lists, labelled in the visitor's language; the service refuses
    # anything else in that language too.
    country = SelectField(
        _l("Country"),
        default="CO",
        validate_choice=False,
        choices=lambda: [SelectChoice(*pair) for pair in country_choices()],
    )
    timezone = SelectField(
        _l("Time zone"),
        default="America/Bogota",
        validate_choice=False,
        choices=lambda: [SelectChoice(*pair) for pair in timezone_choices()],
    )
    # The language the visitor reads this page in (the browser's, else Spanish).
    language = SelectField(
        _l("Language"),
        default=lambda: str(get_locale()),
        choices=[SelectChoice(code, name) for code, name in LANGUAGE_NAMES.items()],
    )


class ProgramForm(FlaskForm):
    program = StringField(
        _l("Address of your program"), validators=[DataRequired(_l("Required.")), Length(max=300)]
    )


class ForgotForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(_l("Required."))])


class ResetForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(_l("Required."))])
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[EqualTo("password", _l("The passwords do not match."))],
    )


def _show_errors(form: FlaskForm, error: PremiaError) -> None:
    if not error.fields:
        form.form_errors.append(str(error.message))
    for field, message in error.fields.items():
        target = getattr(form, field, None)
        (target.errors if target is not None else form.form_errors).append(str(message))


# --- sign-up (platform) ----------------------------------------------------

signup = Blueprint("signup", __name__, url_prefix="/signup")


@signup.route("/", methods=["GET", "POST"])
def signup_form() -> Any:
    form = SignupForm()
    if form.validate_on_submit():
        try:
            with platform_session(current_platform().sessions) as session:
                token = accounts.start_signup(session, form.data)
        except PremiaError as error:
            _show_errors(form, error)
        else:
            accounts.send_signup_confirmation(token, form.email.data, form.language.data)
            return render_template("signup/sent.html", email=form.email.data)
    status = 422 if request.method == "POST" else 200
    return render_template("signup/form.html", form=form), status


@signup.get("/confirm/<token>")
def confirm(token: str) -> Any:
    with platform_session(current_platform().sessions) as session:
        try:
            tenant = accounts.confirm_signup(session, token)
            session.commit()
        except accounts.AlreadyConfirmed as done:
            return render_template(
                "signup/done.html", message=str(done.message), login_url=None
            ), 409
        except PremiaError as error:
            return render_template(
                "signup/done.html", message=str(error.message), login_url=None
            ), error.status
        slug, language = tenant.slug, tenant.language
    # Read on the program's login page, which speaks the program's language.
    with force_locale(language):
        flash(_("Your account is ready. Log in to set up your program."), "success")
    return redirect(url_for("t.auth.login", tenant_slug=slug))


# --- the platform's home page and the way to a program's login ---------------

home = Blueprint("platform_home", __name__)


@home.route("/", methods=["GET", "POST"])
def index() -> Any:
    """What Premia is, its sign-up, and the way to a program's login: staff give their
    program's address (no list of programs, no lookup by e-mail)."""
    form = ProgramForm()
    if form.validate_on_submit():
        try:
            with platform_session(current_platform().sessions) as session:
                slug = accounts.find_program(session, form.program.data)
        except PremiaError as error:
            _show_errors(form, error)
        else:
            return redirect(url_for("t.auth.login", tenant_slug=slug))
    status = 422 if request.method == "POST" else 200
    return render_template("platform/index.html", form=form), status


# --- forgotten password (tenant) -----------------------------------------------

password = Blueprint("password", __name__, url_prefix="/password")


@password.route("/forgot", methods=["GET", "POST"])
def forgot() -> Any:
    form = ForgotForm()
    if form.validate_on_submit():
        if not allow_reset_request(form.email.data):
            # Counted whether or not the address is someone's: the refusal tells nothing.
            flash(_("Too many requests for this e-mail. Wait a while and try again."), "error")
            return render_template("auth/forgot.html", form=form), 429
        accounts.request_password_reset(db(), g.tenant, form.email.data)
        db().commit()
        # The same answer whether or not the address belongs to someone here.
        flash(
            _(
                "If this e-mail belongs to a staff member, a link to choose a new password "
                "is on its way."
            ),
            "success",
        )
        return redirect(url_for("t.auth.login"))
    return render_template("auth/forgot.html", form=form)


@password.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str) -> Any:
    try:
        user = accounts.user_for_reset(db(), token)
    except PremiaError as error:
        flash(str(error.message), "error")
        return redirect(url_for(".forgot"))
    form = ResetForm()
    if form.validate_on_submit():
        try:
            accounts.set_password(db(), user, form.password.data)
        except PremiaError as error:
            _show_errors(form, error)
        else:
            db().commit()
            flash(_("Your password was changed. Log in with it."), "success")
            return redirect(url_for("t.auth.login"))
    return render_template("auth/reset.html", form=form), (422 if form.errors else 200)
