"""The customer app's account pages, on the shared app and on a merchant's: sign-in and
sign-out, registering, the e-mail's confirmation, a forgotten password, and the
invitation link (a merchant's pages only). The rules are in `accounts`.

Failed sign-ins give one message whatever the cause and are counted like staff's
(core.web.auth): per address and e-mail, and per address alone, in the `limits`
storage; past the limit the form answers 429 without checking the password. An
unconfirmed account does not sign in: with the right password it is told to confirm
its e-mail first and offered a new link. Requests that send an e-mail (registering,
a new link, a reset) are counted per address and e-mail like staff's reset requests,
and answer the same whether or not the e-mail has an account.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo

from core.customer_app import accounts, arrivals, sessions
from core.customer_app.faces import app_url
from core.host.actors import Actor
from core.host.errors import PremiaError
from core.loyalty import joining
from core.loyalty.invitations import send_invitation
from core.loyalty.members import Customer, Membership
from core.loyalty.staff import normalize_email
from core.web.passwords import verify_password
from core.web.request import db
from worker.jobs import enqueue

bp = Blueprint("app_accounts", __name__, url_prefix="/app")


class SignInForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(_l("Required."))])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Required."))])


class RegisterForm(FlaskForm):
    first_name = StringField(_l("First name (optional)"))
    last_name = StringField(_l("Last name (optional)"))
    email = EmailField(_l("E-mail"), validators=[DataRequired(_l("Required."))])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Required."))])


class EmailForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(_l("Required."))])


class NewPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(_l("Required."))])
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[EqualTo("password", _l("The passwords do not match."))],
    )


class RenewForm(FlaskForm):
    """A button: send a new link."""


def safe_next(default: str) -> str:
    """Where to go after signing in: a path of this site only (never another host)."""
    target = request.args.get("next") or request.form.get("next") or ""
    parts = urlsplit(target)
    # Browsers read "/\\host" as "//host", and drop tabs and line breaks: neither passes.
    odd = "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target)
    if target.startswith("/") and not target.startswith("//") and not parts.netloc and not odd:
        return target
    return default


def _home() -> str:
    return app_url("app_card.home" if g.get("tenant") is not None else "app_home.home")


def _language() -> str:
    return str(get_locale())


def _show_errors(form: FlaskForm, error: PremiaError) -> None:
    if not error.fields:
        form.form_errors.append(str(error.message))
    for field, message in error.fields.items():
        target = getattr(form, field, None)
        (target.errors if target is not None else form.form_errors).append(str(message))


# --- sign-in ---------------------------------------------------------------------


def authenticate(email: str, password: str) -> Customer | None:
    """The account with this e-mail and password (deleted accounts never sign in)."""
    try:
        address = normalize_email(email)
    except PremiaError:
        address = ""
    customer = accounts.find_by_email(db(), address) if address else None
    hashed = customer.password_hash if customer is not None else None
    # Verified even without an account: a failure takes the same time whatever its cause.
    if not verify_password(hashed, password) or customer is None or customer.deleted_at:
        return None
    return customer


def _limits() -> tuple[Any, list[tuple[Any, str]]]:
    """The limiter and the counters a failed sign-in adds to, as for staff: this e-mail
    from this address (on any of the app's faces: the account is the same), and this
    address across all accounts (the staff login's counter too: password spraying)."""
    limiter, per_account, per_address = current_app.extensions["premia_login_limits"]
    email = (request.form.get("email") or "").strip().lower()
    address = request.remote_addr
    return limiter, [
        (per_account, f"premia-app-login|{address}|{email}"),
        (per_address, f"premia-login|{address}"),
    ]


def _allow_mail_request(email: str) -> bool:
    """Count a request that e-mails this address (register, a new link, a reset) from this
    address; False past `PREMIA_PASSWORD_RESET_LIMIT` for this e-mail, or past
    `PREMIA_MAIL_REQUEST_LIMIT_PER_ADDRESS` whatever the e-mail. Every request counts, the e-mail
    being someone's or not, so a refusal tells nothing either."""
    limiter = current_app.extensions["premia_login_limits"][0]
    per_email = current_app.extensions["premia_reset_limit"]
    per_address = current_app.extensions["premia_mail_limit_per_address"]
    email = (email or "").strip().lower()
    address = request.remote_addr
    # Both counted every time: the per-address one is what stops a relay to many e-mails.
    allowed_email = limiter.hit(per_email, f"premia-app-mail|{address}|{email}")
    allowed_address = limiter.hit(per_address, f"premia-app-mail|{address}")
    return allowed_email and allowed_address


def _too_many(template: str, form: FlaskForm, **context: Any) -> Any:
    flash(_("Too many requests for this e-mail. Wait a while and try again."), "error")
    return render_template(template, form=form, **context), 429


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = SignInForm()
    limiter, keys = _limits()
    if request.method == "POST" and not all(limiter.test(*key) for key in keys):
        flash(_("Too many failed attempts. Wait a minute and try again."), "error")
        return render_template("app/auth/login.html", form=form), 429
    if form.validate_on_submit():
        customer = authenticate(form.email.data, form.password.data)
        if customer is not None and customer.email_confirmed_at is None:
            # Only whoever knows the password learns that the e-mail awaits confirmation.
            flash(_("Confirm your e-mail first: open the link we sent you."), "error")
            resend = EmailForm(formdata=None, email=customer.email)
            return render_template("app/auth/unconfirmed.html", form=resend), 403
        if customer is not None:
            sessions.log_in(db(), customer)
            db().commit()
            return redirect(safe_next(_home()))
    if request.method == "POST":
        for key in keys:
            limiter.hit(*key)
        # One message whatever the cause: no hint whether the e-mail exists.
        flash(_("Wrong e-mail or password."), "error")
        return render_template("app/auth/login.html", form=form), 401
    return render_template("app/auth/login.html", form=form)


@bp.post("/logout")
def logout() -> Any:
    sessions.log_out(db())
    db().commit()
    return redirect(app_url("app_accounts.login"))


# --- registering and confirming --------------------------------------------------


@bp.route("/register", methods=["GET", "POST"])
def register() -> Any:
    form = RegisterForm()
    if form.validate_on_submit():
        if not _allow_mail_request(form.email.data):
            return _too_many("app/auth/register.html", form)
        try:
            accounts.register(
                db(),
                email=form.email.data,
                password=form.password.data,
                first_name=form.first_name.data,
                last_name=form.last_name.data,
                language=_language(),
                tenant=g.get("tenant"),
                via=arrivals.recalled(g.get("tenant")),
            )
        except PremiaError as error:
            db().rollback()
            _show_errors(form, error)
        else:
            db().commit()
            # The same page whether the e-mail was new or had an account already.
            return render_template("app/auth/sent.html", email=form.email.data)
    status = 422 if request.method == "POST" else 200
    return render_template("app/auth/register.html", form=form), status


@bp.get("/confirm/<token>")
def confirm(token: str) -> Any:
    try:
        tenant = g.get("tenant")
        customer = accounts.confirm(db(), token, tenant, arrivals.recalled(tenant))
    except accounts.AlreadyConfirmed as done:
        db().rollback()
        flash(str(done.message), "success")
        return render_template("app/auth/login.html", form=SignInForm(formdata=None)), 409
    except PremiaError as error:
        db().rollback()
        return _link_not_valid(error, "app_accounts.resend")
    sessions.log_in(db(), customer)
    db().commit()
    flash(_("Your e-mail is confirmed. Welcome!"), "success")
    return redirect(_home())


@bp.route("/confirm", methods=["GET", "POST"])
def resend() -> Any:
    """A new confirmation link, for the e-mail typed (the same answer whoever's it is)."""
    return _mail_request(
        "app/auth/resend.html",
        accounts.resend_confirmation,
        _("If this e-mail has an account waiting for confirmation, a new link is on its way."),
    )


def _mail_request(template: str, send: Any, done: str) -> Any:
    """A page asking for an e-mail to send a link to, with the same answer whoever's
    address it is (no enumeration), within the per-address and per-e-mail limits."""
    form = EmailForm()
    if form.validate_on_submit():
        if not _allow_mail_request(form.email.data):
            return _too_many(template, form)
        send(None, form.email.data, g.get("tenant"), _language())
        flash(done, "success")
        return redirect(app_url("app_accounts.login"))
    status = 422 if request.method == "POST" else 200
    return render_template(template, form=form), status


def _link_not_valid(error: PremiaError, again: str, **renew: Any) -> Any:
    """An expired, used or forged link: say so, and offer to send a new one."""
    return render_template(
        "app/auth/link.html",
        message=str(error.message),
        again_url=app_url(again),
        renew_url=app_url("app_accounts.renew_invitation", **renew) if renew else None,
        form=RenewForm(),
    ), 404


# --- a forgotten password ----------------------------------------------------------


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot() -> Any:
    return _mail_request(
        "app/auth/forgot.html",
        accounts.request_reset,
        _("If this e-mail has an account, a link to choose a new password is on its way."),
    )


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset(token: str) -> Any:
    tenant = g.get("tenant")
    try:
        customer = accounts.customer_for_reset(db(), token, tenant)
    except PremiaError as error:
        return _link_not_valid(error, "app_accounts.forgot")
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.set_password(db(), customer, form.password.data)
            if tenant is not None and accounts.reset_joins(token):
                via = accounts.link_arrival(token) or arrivals.recalled(tenant)
                joining.join(
                    db(), customer, joined_via="app", actor=Actor.customer(customer.id), via=via
                )
        except PremiaError as error:
            db().rollback()
            _show_errors(form, error)
        else:
            sessions.log_in(db(), customer)
            db().commit()
            flash(_("Your password was changed."), "success")
            return redirect(_home())
    status = 422 if form.errors else 200
    return render_template("app/auth/reset.html", form=form, email=customer.email), status


# --- an invitation from a merchant ---------------------------------------------------


@bp.route("/invitation/<token>", methods=["GET", "POST"])
def invitation(token: str) -> Any:
    tenant = g.get("tenant")
    if tenant is None:
        abort(404)
    try:
        member = accounts.member_for_invitation(db(), token, tenant)
    except accounts.LinkNotValid as error:
        renew = {"token": token} if error.payload is not None else {}
        return _link_not_valid(error, "app_accounts.forgot", **renew)
    except PremiaError as error:
        return _link_not_valid(error, "app_accounts.forgot")
    customer = member.customer
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.set_password(db(), customer, form.password.data)
        except PremiaError as error:
            db().rollback()
            _show_errors(form, error)
        else:
            sessions.log_in(db(), customer)
            db().commit()
            flash(_("Welcome! This is your card."), "success")
            return redirect(app_url("app_card.home"))
    status = 422 if form.errors else 200
    return render_template(
        "app/auth/invitation.html", form=form, email=customer.email, member=member
    ), status


@bp.post("/invitation/<token>/renew")
def renew_invitation(token: str) -> Any:
    """An expired or used invitation link: the merchant's invitation again, with a new
    link (to the e-mail the merchant invited, never one typed here)."""
    tenant = g.get("tenant")
    payload = accounts.invited_payload(token, tenant) if tenant is not None else None
    if payload is None or not RenewForm().validate_on_submit():
        abort(404)
    member_id = payload.get("m")
    member = db().get(Membership, member_id) if isinstance(member_id, int) else None
    if member is None:
        abort(404)
    if _allow_mail_request(f"invitation-{member.id}"):
        enqueue(db(), send_invitation, tenant.id, member.id)
        db().commit()  # sent after: the job's own session never waits behind this one
    flash(_("A new link is on its way to your e-mail."), "success")
    return redirect(app_url("app_accounts.login"))
