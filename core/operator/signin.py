"""The console's door: the operator's sign-in (password, then a TOTP or recovery code),
the authenticator's enrolment, sign-out, and the gate in front of every console page.

The console lives on the platform's hosts only (a brand's domain serves that brand's
pages alone: `/operator/` there is a 404). Its session is its own: the cookie holds a token
of an `OperatorSession` under a key staff's login never reads, and staff's user loader
never reads the operator's. So a staff session opens no console page and an operator
session opens no merchant's panel.
"""

from __future__ import annotations

import time
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from core.host.errors import PremiaError
from core.operator import accounts, audit
from core.operator.models import Operator
from core.web.request import db
from core.web.staff_sessions import password_stamp
from tenants.resolver import DOMAIN_SLUG

TOKEN_KEY = "premia_operator"  # the Flask session's key for the console session's token
PENDING_KEY = "premia_operator_pending"  # password given, second factor not yet
PENDING_FOR = 300  # seconds to give the second factor
OPEN = {"operator.login", "operator.second_factor", "operator.enrol"}


def current_operator() -> Operator:
    return g.operator


def current_operator_or_none() -> Operator | None:
    return g.get("operator")


def address() -> str | None:
    return request.remote_addr


def gate() -> Any:
    """Before every console request: platform hosts only, and a signed-in operator for
    every page but the sign-in's own (anonymous and staff are sent to the sign-in)."""
    if request.environ.get(DOMAIN_SLUG):
        abort(404)
    g.operator = None
    found = accounts.find_session(db(), session.get(TOKEN_KEY, ""))
    if found is not None:
        g.operator_session, g.operator = found
        if accounts.seen(g.operator_session):
            db().commit()
    if request.endpoint in OPEN or g.operator is not None:
        return None
    return redirect(url_for("operator.login"))


def _limits() -> tuple[Any, Any, Any]:
    return current_app.extensions["premia_login_limits"]


def _allowed(key: str) -> bool:
    limiter, per_account, per_address = _limits()
    return limiter.test(per_account, key) and limiter.test(per_address, f"premia-login|{address()}")


def _failed(key: str) -> None:
    limiter, per_account, per_address = _limits()
    limiter.hit(per_account, key)
    limiter.hit(per_address, f"premia-login|{address()}")


def login() -> Any:
    if g.operator is not None:
        return redirect(url_for("operator.merchants"))
    email = (request.form.get("email") or "").strip().lower()
    key = f"premia-operator|{address()}|{email}"
    if request.method == "POST":
        if not _allowed(key):
            flash(_("Too many failed attempts. Wait a minute and try again."), "error")
            return render_template("operator/login.html", email=email), 429
        operator = accounts.check_password(db(), email, request.form.get("password") or "")
        if operator is None:
            _failed(key)
            db().rollback()
            flash(_("Wrong e-mail or password."), "error")
            return render_template("operator/login.html", email=email), 401
        db().commit()
        session[PENDING_KEY] = {
            "id": operator.id,
            "stamp": password_stamp(operator.password_hash),
            "at": time.time(),
        }
        target = "operator.second_factor" if operator.enrolled else "operator.enrol"
        return redirect(url_for(target))
    return render_template("operator/login.html", email="")


def _pending() -> Operator | None:
    """The operator who gave the right password a moment ago, still valid."""
    pending = session.get(PENDING_KEY) or {}
    if not pending or time.time() - float(pending.get("at", 0)) > PENDING_FOR:
        return None
    operator = db().get(Operator, pending.get("id"))
    if operator is None or not operator.active:
        return None
    if password_stamp(operator.password_hash) != pending.get("stamp"):
        return None
    return operator


def _sign_in(operator: Operator, action: str) -> None:
    _row, token = accounts.open_session(db(), operator, address())
    audit.record(db(), operator, action, address=address())
    db().commit()
    session.pop(PENDING_KEY, None)
    session[TOKEN_KEY] = token


def second_factor() -> Any:
    operator = _pending()
    if operator is None:
        flash(_("Sign in again."), "error")
        return redirect(url_for("operator.login"))
    if not operator.enrolled:
        return redirect(url_for("operator.enrol"))
    if request.method == "POST":
        # Per operator from every address (guesses spread over many addresses still
        # count), besides the per-address limit `_allowed` also checks.
        key = f"premia-operator-code|{operator.id}"
        if not _allowed(key):
            flash(_("Too many failed attempts. Wait a minute and try again."), "error")
            return render_template("operator/second_factor.html"), 429
        used = accounts.second_factor(db(), operator, request.form.get("code") or "")
        if used is None:
            _failed(key)
            db().rollback()
            flash(_("This code is not right. Type the current one."), "error")
            return render_template("operator/second_factor.html"), 401
        _sign_in(operator, "sign_in" if used == "totp" else "sign_in_recovery")
        if used == "recovery":
            left = accounts.recovery_codes_left(db(), operator)
            flash(_("You signed in with a recovery code; %(n)d left.", n=left), "warning")
        return redirect(url_for("operator.merchants"))
    return render_template("operator/second_factor.html")


def enrol() -> Any:
    operator = _pending()
    if operator is None:
        flash(_("Sign in again."), "error")
        return redirect(url_for("operator.login"))
    if operator.enrolled:
        return redirect(url_for("operator.second_factor"))
    secret = accounts.enrolment_secret(db(), operator)
    db().commit()
    if request.method == "POST":
        try:
            codes = accounts.confirm_enrolment(db(), operator, request.form.get("code") or "")
        except PremiaError as error:
            db().rollback()
            flash(str(error.fields.get("code", error.message)), "error")
        else:
            audit.record(db(), operator, "enrol", address=address())
            _sign_in(operator, "sign_in")
            return render_template("operator/recovery_codes.html", codes=codes)
    uri = accounts.provisioning_uri(operator, current_app.config.get("PREMIA_PLATFORM_NAME"))
    return render_template("operator/enrol.html", secret=secret, qr=accounts.qr_svg(uri))


def logout() -> Any:
    if g.operator is not None:
        accounts.end_session(g.operator_session)
        audit.record(db(), g.operator, "sign_out", address=address())
        db().commit()
    session.pop(TOKEN_KEY, None)
    return redirect(url_for("operator.login"))


def recovery_codes() -> Any:
    operator = current_operator()
    codes = accounts.new_recovery_codes(db(), operator)
    audit.record(db(), operator, "recovery_codes", address=address())
    db().commit()
    return render_template("operator/recovery_codes.html", codes=codes)


def register(bp: Blueprint) -> None:
    bp.before_request(gate)
    bp.route("/login", methods=["GET", "POST"])(login)
    bp.route("/code", methods=["GET", "POST"], endpoint="second_factor")(second_factor)
    bp.route("/enrol", methods=["GET", "POST"])(enrol)
    bp.post("/logout")(logout)
    bp.post("/account/recovery-codes", endpoint="recovery_codes")(recovery_codes)
