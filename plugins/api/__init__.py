"""The POS API: a token-authenticated REST API (v1) for point-of-sale and ERP systems.

Served at `/api/v1` on every host (the token says which merchant), with its
OpenAPI document at `/api/v1/openapi.json` and interactive docs at
`/api/v1/docs` (Swagger UI from the `swagger-ui-bundle` package, no CDN).
"""

from __future__ import annotations

import os
from typing import Any

import flask_smorest
from flask import render_template, send_from_directory
from flask_babel import lazy_gettext as _l
from swagger_ui_bundle import swagger_ui_path

from core.sdk import (
    MANAGERS,
    MenuItem,
    PeriodicJob,
    PluginInfo,
    current_platform,
    hookimpl,
    platform_job,
    platform_session,
)
from plugins.api import (
    access,
    bodies,
    cli,
    errors,
    idempotency,
    panel,
    schemas,
    till,  # the till's routes, on the same blueprint
)
from plugins.api.views import blp

PLUGIN = PluginInfo(
    name="api",
    sdk_version="1.1",
    title=_l("POS API"),
    description=_l("A REST API with tokens for point-of-sale and ERP systems."),
    plans=("white-label",),
)

DOCS_ASSETS = "/api/v1/docs/assets/"

INTRODUCTION = """\
Give and redeem points from your point of sale: quote a sale, record it with its
lines, return it whole or in part, pay with points, use a pack.

Authenticate every request with `Authorization: Bearer <token>`; the merchant's
owner creates tokens in the panel (Configuración → API) or an operator with
`premia token create SLUG --name NAME`. Errors are JSON:
`{"status", "reason", "message", "errors"}`, the message in the merchant's language.

Every POST accepts an `Idempotency-Key` header (1–180 characters): a retry with
the same key and body returns the first answer (with `Idempotent-Replayed: true`)
and writes nothing; the same key with another body is refused (409,
`idempotency_key_reused`). Keys are
kept 48 hours. Requests are rate-limited per token (429 with `Retry-After`).
"""


TAGS = (
    ("customers", "People enrolled in the merchant's program, found by the code of their QR."),
    ("points", "Points given to a customer, by points or by a purchase amount; their ledger."),
    (
        "purchases",
        "The whole till: a sale with its lines, its quote, its returns, a bill paid with "
        "points, a pack used.",
    ),
    ("rewards", "The merchant's catalogue of rewards."),
    ("redemptions", "Rewards handed to customers, and customers' requests to confirm or cancel."),
    ("program", "The program's settings: equivalence, welcome points, expiry."),
)


class Api(flask_smorest.Api):
    """flask-smorest's Api, minus its app-wide error handler: the API blueprint
    answers its own errors, and the rest of the app keeps the core's. Error answers
    are documented per endpoint with our own schema, not a generic default."""

    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_error_handlers(self) -> None:
        return None


@hookimpl
def startup(app: Any) -> None:
    app.config.setdefault(
        "PREMIA_API_RATE_LIMIT", os.environ.get("PREMIA_API_RATE_LIMIT", "1200/minute")
    )
    app.config.setdefault(
        "PREMIA_API_MAX_BODY_BYTES",
        int(os.environ.get("PREMIA_API_MAX_BODY_BYTES") or bodies.DEFAULT_MAX_BODY_BYTES),
    )
    app.config.update(
        {
            "PREMIA_API_API_TITLE": "Premia POS API",
            "PREMIA_API_API_VERSION": "1",
            "PREMIA_API_OPENAPI_VERSION": "3.0.3",
            "PREMIA_API_OPENAPI_URL_PREFIX": "/api/v1",
            "PREMIA_API_OPENAPI_JSON_PATH": "openapi.json",
        }
    )
    api = Api(config_prefix="PREMIA_API_", spec_kwargs={"info": {"description": INTRODUCTION}})
    api.init_app(app)
    api.spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "description": "An API token (prm_…)."}
    )
    api.spec.options["security"] = [{"bearer": []}]
    api.ma_plugin.converter.add_attribute_function(schemas.nullable_nested)
    api.register_blueprint(blp)
    schemas.document_refusals(api.spec)
    till.document(api.spec)
    # Operations are tagged by resource; flask-smorest's tag for the blueprint as a whole
    # would sit empty in Swagger UI and in generated clients.
    api.spec._tags[:] = [{"name": name, "description": text} for name, text in TAGS]
    errors.routing_errors(app)
    app.extensions["csrf"].exempt(blp)  # bearer tokens, not cookies: no CSRF to guard against
    app.extensions["premia_api"] = api
    access.init_limits(app)
    app.cli.add_command(cli.token)

    @app.get("/api/v1/docs", endpoint="api_docs")
    def docs() -> Any:
        return render_template("api/docs.html", assets=DOCS_ASSETS, spec_url="/api/v1/openapi.json")

    @app.get(DOCS_ASSETS + "<path:filename>", endpoint="api_docs_assets")
    def docs_assets(filename: str) -> Any:
        return send_from_directory(swagger_ui_path, filename, max_age=86400)


@hookimpl
def blueprints() -> list[Any]:
    return [panel.make_blueprint()]  # a new one per app: the panel's API page


@hookimpl
def settings_links(tenant: Any) -> list[MenuItem]:
    return [
        MenuItem("t.api_panel.tokens_page", _l("API tokens for your point of sale"), roles=MANAGERS)
    ]


@platform_job(queue="bulk")
def forget_old_answers() -> int:
    with platform_session(current_platform().sessions) as session:
        dropped = idempotency.forget_old(session)
        session.commit()
    return dropped


@hookimpl
def periodic_jobs() -> list[PeriodicJob]:
    return [PeriodicJob("api.forget_old_answers", forget_old_answers, every=3600, queue="bulk")]
