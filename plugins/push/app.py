"""The customer app's side: the offer to turn notifications on (after the person's
first points, never on a first visit), the device's FCM token registered through the
Firebase JS SDK and our service worker, and the worker's handler of pushes.

The Firebase JS SDK is the npm package `firebase` (pinned in package.json), served
here from node_modules: no CDN."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, g, jsonify, request, send_from_directory
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf
from sqlalchemy import exists, select

from core.sdk import (
    Entry,
    InvalidInput,
    Membership,
    NotFound,
    app_url,
    current_customer,
    customer_required,
    db,
    utcnow,
)
from plugins.push import firebase
from plugins.push.models import Device

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE.parents[1] / "node_modules" / "firebase"
LIBRARIES = ("firebase-app-compat.js", "firebase-messaging-compat.js")
TOKEN_MAX = 4096
AGE = 86400


def make_blueprint() -> Blueprint:
    bp = Blueprint("push_app", __name__, url_prefix="/app/push")
    bp.get("/push.js", endpoint="script")(script)
    bp.get("/worker.js", endpoint="worker")(worker)
    bp.get("/lib/<name>", endpoint="library")(library)
    bp.get("/status", endpoint="status")(status)
    bp.post("/devices", endpoint="register")(register)
    return bp


def _static(name: str, max_age: int) -> Response:
    response = send_from_directory(
        HERE / "static", name, max_age=max_age, mimetype="text/javascript"
    )
    response.headers["Cache-Control"] = "no-cache"
    return response


def script() -> Response:
    return _static("push.js", 0)


def worker() -> Response:
    # Imported by the app's service worker under its scope.
    return _static("push-worker.js", 0)


def library(name: str) -> Response:
    if name not in LIBRARIES:
        abort(404)
    return send_from_directory(NODE_MODULES, name, max_age=AGE, mimetype="text/javascript")


def _member() -> Membership | None:
    customer = current_customer()
    if customer is None:
        return None
    return db().scalar(select(Membership).where(Membership.customer_id == customer.id))


def status() -> Response:
    """What the page script needs: whether to offer notifications now, and how."""
    member = _member()
    setup = firebase.setup(g.tenant)
    if member is None or not setup.can_register:
        return jsonify(enabled=False)
    session = db()
    granted = session.scalar(select(exists().where(Entry.member_id == member.id, Entry.points > 0)))
    known = session.scalar(select(exists().where(Device.member_id == member.id)))
    return jsonify(
        enabled=True,
        offer=bool(granted and not known),
        config=setup.web_config,
        vapidKey=setup.vapid_key,
        register=app_url("push_app.register"),
        libraries=[app_url("push_app.library", name=name) for name in LIBRARIES],
        csrf=generate_csrf(),
        text={
            "offer": _("Get a notice on this phone when you receive points?"),
            "yes": _("Turn on notifications"),
            "no": _("Not now"),
        },
    )


@customer_required
def register() -> Any:
    """Keep the device's token for the signed-in member of this merchant (again: FCM
    may hand the phone a new one)."""
    member = _member()
    if member is None:
        raise NotFound()
    body = request.get_json(silent=True) or {}
    token = body.get("token")
    if not isinstance(token, str) or not token.strip() or len(token) > TOKEN_MAX:
        raise InvalidInput(token=_("The device did not send a valid notification token."))
    session = db()
    device = session.scalar(select(Device).where(Device.token == token))
    if device is None:
        device = Device(member_id=member.id, token=token)
        session.add(device)
    device.member_id = member.id  # a shared phone: the token follows who signed in
    device.user_agent = (request.user_agent.string or "")[:200]
    device.seen_at = utcnow()
    session.commit()
    return jsonify(registered=True), 201
