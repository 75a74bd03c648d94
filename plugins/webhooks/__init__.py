"""Webhooks (white-label plan): the merchant's own systems told of what happens, signed
as the Standard Webhooks specification says: endpoints configured in the panel
(Configuración → Webhooks) and through the v1 API (scope `webhooks:write`), one job per
delivery on the `webhooks` queue, retried with backoff for about three days, a delivery
log, tests and re-sends; addresses checked against server-side request forgery at send
time. See docs/webhooks.md."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask_babel import lazy_gettext as _l

from core.sdk import PluginInfo, hookimpl
from plugins.webhooks import api, openapi, panel, settings
from plugins.webhooks.hooks import (  # noqa: F401  (hook implementations)
    entries_recorded,
    entry_recorded,
    happened,
    member_created,
    member_erased,
    members_enrolled,
    periodic_jobs,
    points_expired,
    purchase_partly_returned,
    purchase_recorded,
    purchase_returned,
    redemption_changed,
    settings_links,
)

PLUGIN = PluginInfo(
    name="webhooks",
    sdk_version="1.6",
    title=_l("Webhooks"),
    description=_l("Signed notices to your own systems (ERP, CRM) when something happens."),
    plans=("white-label",),
)


@hookimpl(trylast=True)  # after the POS API's, whose door our endpoints go through
def startup(app: Any) -> None:
    settings.configure(app)
    app.add_url_rule(
        "/api/v1/webhooks/openapi.json",
        "webhooks_openapi",
        lambda: jsonify(openapi.document()),
    )
    door = app.extensions.get("premia_api")
    if door is not None:  # the POS API plugin is installed: our endpoints beside its own
        door.add_plugin_endpoints(
            api.make_blueprint(door, app.config["PREMIA_WEBHOOKS_HTTPS_ONLY"]),
            plugin="webhooks",
            scope="webhooks:write",
            tag=api.TAG,
            about=api.ABOUT,
        )
        door.spec.options["x-webhooks"] = openapi.webhooks()
        # A change names something (an empty one would answer 422 for nothing).
        door.spec.components.schemas["EndpointPatch"]["minProperties"] = 1


@hookimpl
def blueprints() -> list[Any]:
    return [panel.make_blueprint()]
