"""Signing in to and out of the customer app, on the shared app and on a merchant's.

Registration, e-mail confirmation, password reset, invitations and social sign-in
build on this (one module each); failed sign-ins give one message whatever the cause.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, flash, g, redirect, render_template, request
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from core.customer_app import sessions
from core.customer_app.faces import app_url
from core.loyalty.members import Customer
from core.loyalty.staff import normalize_email
from core.web.passwords import verify_password
from core.web.request import db

bp = Blueprint("app_accounts", __name__, url_prefix="/app")


class SignInForm(FlaskForm):
    email = EmailField(validators=[DataRequired()])
    password = PasswordField(validators=[DataRequired()])


def safe_next(default: str) -> str:
    """Where to go after signing in: a path of this site only (never another host)."""
    target = request.args.get("next") or request.form.get("next") or ""
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.netloc:
        return target
    return default


def authenticate(email: str, password: str) -> Customer | None:
    """The account with this e-mail and password (deleted accounts never sign in)."""
    customer = db().scalar(
        select(Customer).where(Customer.email == normalize_email(email)),
        execution_options={"person_lookup": True},
    )
    hashed = customer.password_hash if customer is not None else None
    if not verify_password(hashed, password) or customer is None or customer.deleted_at:
        return None
    return customer


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = SignInForm()
    if form.validate_on_submit():
        customer = authenticate(form.email.data, form.password.data)
        if customer is not None:
            sessions.log_in(db(), customer)
            db().commit()
            home = "app_card.home" if g.get("tenant") is not None else "app_home.home"
            return redirect(safe_next(app_url(home)))
    if request.method == "POST":
        flash(_("Wrong e-mail or password."), "error")
        return render_template("app/auth/login.html", form=form), 401
    return render_template("app/auth/login.html", form=form)


@bp.post("/logout")
def logout() -> Any:
    sessions.log_out(db())
    db().commit()
    return redirect(app_url("app_accounts.login"))
