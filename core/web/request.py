"""The request's database session, health, the favicon, and error answers (JSON for the
API, the theme's page in the user's language for a browser)."""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import (
    Blueprint,
    g,
    has_app_context,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from sqlalchemy import text
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from core.host.errors import PremiaError
from core.host.platform import current_platform
from core.host.replica import freshness
from core.web.themes import current_theme
from tenants.domains import is_served

log = logging.getLogger(__name__)
bp = Blueprint("platform", __name__)


def db() -> Session:
    """This request's session (scoped to the request's tenant once it is resolved)."""
    if "db" not in g:
        g.db = current_platform().sessions()
    return g.db


def reading_db() -> Session:
    """This request's session for reads that decide no write (figures, lists, exports):
    on the replica (core/host/replica.py) when one is configured and answers, scoped to
    the request's tenant as `db()` is; `db()` itself otherwise. Never write through it."""
    if "reading_db" not in g:
        primary = db()
        tenant_id = primary.info.get("tenant_id")
        replica = current_platform().replica
        reading = None
        if replica is not None and isinstance(tenant_id, int):  # a tenant's page
            reading = replica.open(tenant_id)
        g.reading_db = reading or primary
    return g.reading_db


def reading_notice() -> str | None:
    """What the page says when its figures come from a replica that lags behind: as of
    when they are, in the user's language and the tenant's time zone."""
    if not has_app_context():
        return None
    session = g.get("reading_db")
    replica = current_platform().replica
    found = freshness(session) if session is not None else None
    # A lag is only measured from a replayed transaction: `as_of` is then known.
    if replica is None or found is None or found.as_of is None or not replica.lagging(found):
        return None
    return _(
        "Figures as of %(moment)s: the latest movements will show in a moment.",
        moment=format_datetime(found.as_of, "medium"),
    )


def close_db(_exc: BaseException | None = None) -> None:
    reading = g.pop("reading_db", None)
    session = g.pop("db", None)
    if reading is not None and reading is not session:
        reading.close()
    if session is not None:
        session.close()


@bp.get("/favicon.ico")
def favicon() -> Any:
    """Browsers ask for /favicon.ico whatever the page links: the theme's icon."""
    return redirect(url_for("theme_static", theme=current_theme(), filename="favicon.svg"), 301)


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


@bp.get("/.well-known/premia/domain-check")
def domain_check() -> Any:
    """The reverse proxy's `ask` before it obtains a certificate on demand: 200 for a
    brand's verified, served domain (`?domain=`), 404 for any other name, so nobody gets
    the proxy to ask a certificate authority for names that are not ours."""
    served = is_served(db(), request.args.get("domain", ""))
    return ("", 200) if served else ("", 404)


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return request.is_json or best == "application/json" or request.path.startswith("/api/")


def handle_premia_error(error: PremiaError) -> Any:
    """A PremiaError as the API's JSON error answer (status, reason, message, errors)."""
    return jsonify(status=error.status, **error.to_dict()), error.status


# What a person is told, by status; Werkzeug's descriptions are English and for developers.
ERROR_PAGES: dict[int, tuple[Any, Any]] = {
    400: (_l("The request could not be processed."), _l("Go back, reload the page and try again.")),
    403: (_l("You may not open this page."), _l("Ask the owner of the program if you need it.")),
    404: (_l("Page not found"), _l("The address may be mistyped, or the page no longer exists.")),
    500: (
        _l("Something went wrong"),
        _l("We could not complete your request. Try again in a moment."),
    ),
}
EXPIRED_FORM = (_l("The form expired"), _l("Go back, reload the page and try again."))


def handle_http_error(error: HTTPException) -> Any:
    if wants_json():
        headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
        return (
            jsonify(
                status=error.code,
                reason=error.name.lower().replace(" ", "_"),
                message=error.description,
            ),
            error.code,
            headers,
        )  # 405 keeps its Allow
    if error.response is not None:  # a page of its own already (abort(response))
        return error
    code = error.code or 500
    if isinstance(error, CSRFError):
        title, message = EXPIRED_FORM
    elif isinstance(error, RequestEntityTooLarge):  # its description says the limit
        title, message = ERROR_PAGES[400][0], error.description
    else:
        title, message = ERROR_PAGES.get(
            code // 100 * 100 if code >= 500 else code, ERROR_PAGES[400]
        )
    response = error.get_response()  # keeps the error's headers (Allow, Retry-After…)
    response.set_data(_error_page(code, str(title), str(message)))
    response.mimetype = "text/html"
    return response


def handle_too_large(error: RequestEntityTooLarge) -> Any:
    """A body over `PREMIA_MAX_REQUEST_BYTES` (refused before it is read), said plainly."""
    limit = request.max_content_length or 0
    return handle_http_error(
        RequestEntityTooLarge(
            description=_(
                "The request is too large: send at most %(size)s MB.",
                size=f"{limit / (1024 * 1024):g}",
            )
        )
    )


# The customer app's paths (shared, a merchant's, a brand's): their errors in the app's look.
APP_PATH = re.compile(r"^(/t/[^/]+)?/app(/|$)")


PANEL_PATH = re.compile(r"^(/t/[^/]+)?/panel(/|$)")


def _customer_facing() -> bool:
    """An app page, or any page on a brand's own domain but its panel's: its customers
    see the error in the app's look, the brand's alone (the panel's page names the
    platform's stylesheet)."""
    if APP_PATH.match(request.path):
        return True
    tenant = g.get("tenant")
    on_brand = tenant is not None and tenant.domain and request.host.split(":")[0] == tenant.domain
    return bool(on_brand) and not PANEL_PATH.match(request.path)


def _error_page(code: int, title: str, message: str) -> str:
    """The theme's error page; the bare text when even that cannot be drawn (a 500 may
    come from a broken database or template)."""
    session = g.get("db")
    try:
        if session is not None and code >= 500:
            session.rollback()  # the page reads the tenant, the user: not from a failed transaction
        page = "app/error.html" if _customer_facing() else "error.html"
        return render_template(page, code=code, title=title, message=message)
    except Exception:
        log.exception("the error page for %s could not be drawn", code)
        return (
            f"<!doctype html><title>{escape(title)}</title><h1>{escape(title)}</h1>"
            f"<p>{escape(message)}</p>"
        )
