"""The request's database session, platform pages, health, and error answers."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, g, jsonify, render_template, request
from flask_babel import gettext as _
from sqlalchemy import text
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from core.errors import PremiaError
from core.platform import current_platform

log = logging.getLogger(__name__)
bp = Blueprint("platform", __name__)


def db() -> Session:
    """This request's session (scoped to the request's tenant once it is resolved)."""
    if "db" not in g:
        g.db = current_platform().sessions()
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()


@bp.get("/")
def index() -> str:
    return render_template("platform/index.html")


@bp.get("/healthz")
def healthz() -> Any:
    platform = current_platform()
    checks: dict[str, str] = {}
    try:
        with platform.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        log.warning("health: database: %s", exc)
        checks["database"] = "error"
    if platform.redis is not None:
        try:
            platform.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            log.warning("health: redis: %s", exc)
            checks["redis"] = "error"
    ok = all(v == "ok" for v in checks.values())
    extra = {}
    if hasattr(platform.jobs, "failed"):  # embedded: jobs run here, their failures too
        extra["failed_jobs"] = len(platform.jobs.failed)
    return jsonify(status="ok" if ok else "error", **checks, **extra), 200 if ok else 503


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return request.is_json or best == "application/json" or request.path.startswith("/api/")


def handle_premia_error(error: PremiaError) -> Any:
    return jsonify(status=error.status, **error.to_dict()), error.status


def handle_http_error(error: HTTPException) -> Any:
    if not wants_json():
        return error
    headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
    return jsonify(status=error.code, reason=error.name.lower().replace(" ", "_"),
                   message=error.description), error.code, headers  # 405 keeps its Allow


def handle_too_large(error: RequestEntityTooLarge) -> Any:
    """A body over `PREMIA_MAX_REQUEST_BYTES` (refused before it is read), said plainly."""
    limit = request.max_content_length or 0
    return handle_http_error(RequestEntityTooLarge(description=_(
        "The request is too large: send at most %(size)s MB.",
        size=f"{limit / (1024 * 1024):g}")))
