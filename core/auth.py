"""Staff login to a merchant's panel: cookie sessions, CSRF, rate-limited failures.

A staff user's session id names their tenant; on another tenant's pages the
user loader (querying through the tenant-scoped session) finds nobody, so a
login never crosses tenants.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from core.staff import StaffUser, authenticate_staff
from core.web import db

login_manager = LoginManager()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


class StaffLogin(UserMixin):
    """The logged-in staff user, as Flask-Login sees them."""

    def __init__(self, user: StaffUser) -> None:
        self.user = user

    def get_id(self) -> str:
        return f"staff:{self.user.tenant_id}:{self.user.id}"

    @property
    def role(self) -> str:
        return self.user.role


@login_manager.user_loader
def load_user(user_id: str) -> StaffLogin | None:
    kind, _, rest = user_id.partition(":")
    tenant_id, _, staff_id = rest.partition(":")
    tenant = g.get("tenant")
    if kind != "staff" or tenant is None or str(tenant.id) != tenant_id:
        return None
    user = db().get(StaffUser, int(staff_id))
    return StaffLogin(user) if user is not None and user.active else None


class LoginForm(FlaskForm):
    email = EmailField(validators=[DataRequired()])
    password = PasswordField(validators=[DataRequired()])


bp = Blueprint("auth", __name__)


def _login_key() -> str:
    return f"{get_remote_address()}|{g.tenant.id}|{(request.form.get('email') or '').lower()}"


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    lambda: login_limit(), key_func=_login_key, methods=["POST"],
    deduct_when=lambda response: g.get("login_failed", False),
)
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate_staff(db(), form.email.data, form.password.data)
        if user is not None:
            db().commit()
            login_user(StaffLogin(user))
            return redirect(url_for("t.panel.home"))
        g.login_failed = True
    if request.method == "POST":
        # One message whatever the cause: no hint whether the e-mail exists.
        flash(_("Wrong e-mail or password."), "error")
    return render_template("auth/login.html", form=form), 401 if g.get("login_failed") else 200


@bp.post("/logout")
def logout() -> Any:
    logout_user()
    return redirect(url_for("t.auth.login"))


def login_limit() -> str:
    from flask import current_app

    return current_app.config["PREMIA_LOGIN_LIMIT"]


def too_many_attempts(_error: Any) -> Any:
    flash(_("Too many failed attempts. Wait a minute and try again."), "error")
    return render_template("auth/login.html", form=LoginForm()), 429


def init_auth(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "t.auth.login"
    login_manager.login_message = None
    app.config.setdefault(
        "RATELIMIT_STORAGE_URI", app.config.get("PREMIA_REDIS_URL") or "memory://"
    )
    limiter.init_app(app)
    app.register_error_handler(429, too_many_attempts)
    app.jinja_env.globals["current_user"] = current_user
