"""Staff login to a merchant's panel: cookie sessions, CSRF, rate-limited failures.

Failed logins are counted per client address, tenant and e-mail, and per
client address alone (a looser limit, against password spraying), in the
`limits` library's storage (Redis where configured, else memory); past the
limit the form answers 429 without checking the password at all.

A staff user's session id names their tenant and a server-side session
(core.web.staff_sessions); on another tenant's pages the user loader (querying
through the tenant-scoped session) finds nothing, so a login never crosses
tenants, and a session that ended (logout, password change, deactivation) opens
nothing even from a copied cookie.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from core.loyalty.staff import StaffUser, authenticate_staff
from core.panel.access import landing
from core.web import staff_sessions
from core.web.request import db
from core.web.staff_sessions import StaffSession

login_manager = LoginManager()


class StaffLogin(UserMixin):
    """The logged-in staff user, as Flask-Login sees them, in their server-side session."""

    def __init__(self, user: StaffUser, staff_session: StaffSession, token: str) -> None:
        self.user = user
        self.staff_session = staff_session
        self.token = token

    def get_id(self) -> str:
        return f"staff:{self.user.tenant_id}:{self.token}"

    @property
    def role(self) -> str:
        return self.user.role


@login_manager.user_loader
def load_user(user_id: str) -> StaffLogin | None:
    kind, _, rest = user_id.partition(":")
    tenant_id, _, token = rest.partition(":")
    tenant = g.get("tenant")
    if kind != "staff" or tenant is None or str(tenant.id) != tenant_id or not token:
        return None
    row = staff_sessions.find_session(db(), token)
    user = db().get(StaffUser, row.user_id) if row is not None else None
    if user is None or not user.active or not staff_sessions.is_current(row, user.password_hash):
        return None
    return StaffLogin(user, row, token)


def note_seen() -> None:
    """Before a tenant page: keep the session's last use, written once in a while."""
    if current_user.is_authenticated and staff_sessions.seen(current_user.staff_session):
        db().commit()


class LoginForm(FlaskForm):
    email = EmailField(validators=[DataRequired()])
    password = PasswordField(validators=[DataRequired()])


bp = Blueprint("auth", __name__)


def _login_keys() -> list[tuple[Any, str]]:
    """The counters a failed login adds to: this account from this address, and this
    address across all accounts (password spraying)."""
    per_account, per_address = current_app.extensions["premia_login_limits"][1:]
    email = (request.form.get("email") or "").strip().lower()
    address = request.remote_addr
    return [
        (per_account, f"premia-login|{address}|{g.tenant.id}|{email}"),
        (per_address, f"premia-login|{address}"),
    ]


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    limiter = current_app.extensions["premia_login_limits"][0]
    if request.method == "POST" and not all(limiter.test(*key) for key in _login_keys()):
        flash(_("Too many failed attempts. Wait a minute and try again."), "error")
        return render_template("auth/login.html", form=form), 429
    if form.validate_on_submit():
        user = authenticate_staff(db(), form.email.data, form.password.data)
        if user is not None:
            row, token = staff_sessions.open_session(db(), user.id, user.password_hash)
            db().commit()
            login_user(StaffLogin(user, row, token))
            return redirect(url_for(landing(user.role)))
    if request.method == "POST":
        for key in _login_keys():
            limiter.hit(*key)
        # One message whatever the cause: no hint whether the e-mail exists.
        flash(_("Wrong e-mail or password."), "error")
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form)


def allow_reset_request(email: str) -> bool:
    """Count a password-reset request for this e-mail from this address at this tenant;
    False past `PREMIA_PASSWORD_RESET_LIMIT` (every request counts, the address being
    someone's or not, so a refusal tells nothing either)."""
    limiter = current_app.extensions["premia_login_limits"][0]
    limit = current_app.extensions["premia_reset_limit"]
    email = (email or "").strip().lower()
    return limiter.hit(limit, f"premia-reset|{request.remote_addr}|{g.tenant.id}|{email}")


@bp.post("/logout")
def logout() -> Any:
    if current_user.is_authenticated:  # ends on the server: a copied cookie dies with it
        staff_sessions.end_session(current_user.staff_session)
        db().commit()
    logout_user()
    return redirect(url_for("t.auth.login"))


def init_auth(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "t.auth.login"
    login_manager.login_message = None
    # A staff session lives on the server and is revoked there; Flask-Login's "basic"
    # protection would only mark the cookie "not fresh" (nothing here asks for fresh), and
    # that write, on any request of a visitor whose cookie holds a CSRF token, raced the
    # cookie a concurrent request was setting (a sign-in's OAuth state was lost so).
    login_manager.session_protection = None
    storage = storage_from_string(app.config.get("PREMIA_REDIS_URL") or "memory://")
    app.extensions["premia_login_limits"] = (
        MovingWindowRateLimiter(storage),
        parse(app.config["PREMIA_LOGIN_LIMIT"]),
        parse(app.config["PREMIA_LOGIN_LIMIT_PER_ADDRESS"]),
    )
    app.extensions["premia_reset_limit"] = parse(app.config["PREMIA_PASSWORD_RESET_LIMIT"])
    app.extensions["premia_mail_limit_per_address"] = parse(
        app.config["PREMIA_MAIL_REQUEST_LIMIT_PER_ADDRESS"]
    )
    app.jinja_env.globals["current_user"] = current_user
