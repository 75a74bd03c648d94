"""The POS API: a token-authenticated REST API (v1) for point-of-sale and ERP systems.

Served at `/api/v1` on every host (the token says which merchant), with its
OpenAPI document at `/api/v1/openapi.json` and interactive docs at
`/api/v1/docs` (Swagger UI from the `swagger-ui-bundle` package, no CDN).
"""

from __future__ import annotations

import os
from typing import Any

import flask_smorest
from flask import g, render_template, send_from_directory
from flask_babel import lazy_gettext as _l
from swagger_ui_bundle import swagger_ui_path
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

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
    till_schemas,
    views,
)
from plugins.api.views import blp

PLUGIN = PluginInfo(
    name="api",
    sdk_version="1.6",
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
    # What another plugin's operations are made of, as ours are (`add_plugin_endpoints`):
    # read from the door at the plugin's startup, so that no plugin imports this one.
    IDEMPOTENCY_KEY = views.IDEMPOTENCY_KEY
    RETRY_AFTER = views.RETRY_AFTER
    MAX_ID = views.MAX_ID
    # The bodies' building blocks: Schema, Amount, Price, ID, POINTS, text, EntrySchema…
    schemas = till_schemas
    documented = staticmethod(views.documented)  # with blueprint=the plugin's
    actor = staticmethod(access.actor)  # the token, as the ledger's actor
    location = staticmethod(views._location)  # a body's location_id, checked (404)

    def _register_error_handlers(self) -> None:
        return None

    def add_plugin_endpoints(
        self,
        blueprint: flask_smorest.Blueprint,
        *,
        plugin: str,
        scope: str,
        tag: str,
        about: str | None = None,
        when_off: Any = None,
    ) -> None:
        """Serve another plugin's v1 endpoints (the webhooks plugin's, the cashback
        plugin's payments…) behind this API's door: the body cap, the bearer token and
        its tenant, the rate limit, `Idempotency-Key`, the commit on success and the
        error format. Every operation needs the token's `scope` (one of
        `tokens.SCOPES`), and answers 404 where `plugin` is not active for the token's
        merchant, or 403 `feature_not_enabled` with the message `when_off` where given
        (a feature of the till the merchant may switch on). Operations are tagged `tag`:
        one of ours (its description kept) or a new one described by `about`. Called
        from the plugin's `startup`, after this one's."""
        blueprint.ARGUMENTS_PARSER = bodies.JsonParser()
        blueprint.before_request(views.limit_body)
        blueprint.before_request(views.authenticate_and_replay)

        @blueprint.before_request
        def plugin_and_scope() -> Any:
            session = g.db
            if plugin not in current_platform().plugins.active(session, g.tenant):
                if when_off is not None:
                    raise access.FeatureOff(when_off)
                return errors.error_response(404)
            if scope not in g.api_token.scope_set:
                raise access.MissingScope(_l("This token lacks the scope %(scope)s.", scope=scope))
            return None

        blueprint.after_request(views.commit_on_success)
        blueprint.errorhandler(HTTPException)(views.api_http_error)
        blueprint.errorhandler(RequestEntityTooLarge)(views.api_http_error)
        self.register_blueprint(blueprint)
        # Tagged by resource, as ours: flask-smorest's tag for the blueprint would sit empty.
        tags = [t for t in self.spec._tags if t["name"] != blueprint.name]
        if not any(t["name"] == tag for t in tags):
            tags.append({"name": tag, "description": about})
        self.spec._tags[:] = tags
        self._app.extensions["csrf"].exempt(blueprint)


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
