"""Push notifications (white-label plan): members' phones registered through the Firebase
JS SDK and the app's service worker; Notificaciones in the panel (compose, audience and
its exact reach, now or at a local time, edit, cancel, delivery report and history);
transactional pushes beside e-mail (points received, redemptions, points expiring),
as each person chooses in their profile; sent in batches of 500 through firebase-admin.

See `plugins.push.firebase` for the configuration (environment variables)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from core.sdk import PlanLimit, PluginInfo, hookimpl
from plugins.push import app, firebase, panel
from plugins.push.hooks import (  # noqa: F401  (hook implementations)
    app_scripts,
    delivered_topics,
    entries_recorded,
    entry_recorded,
    member_erased,
    notify,
    panel_menu,
    periodic_jobs,
    redemption_changed,
    service_worker_scripts,
)

PLUGIN = PluginInfo(
    name="push",
    sdk_version="1.6",
    title=_l("Push notifications"),
    description=_l("Notifications on members' phones: campaigns to segments, now or scheduled."),
    plans=("white-label",),
    limits=(
        PlanLimit(
            "push.sends_per_month", _l("Push notifications sent a month"), seeds={"white-label": 60}
        ),
    ),
)


# Where the Firebase JS SDK registers a phone: the app's pages may connect there.
FIREBASE_ORIGINS = (
    "https://firebaseinstallations.googleapis.com",
    "https://fcmregistrations.googleapis.com",
)


@hookimpl
def startup(app: Any) -> None:
    sources = app.config.setdefault("PREMIA_CSP_CONNECT_SRC", [])
    sources.extend(origin for origin in FIREBASE_ORIGINS if origin not in sources)
    firebase.warm(app.config)  # before a worker forks its job processes


@hookimpl
def blueprints() -> list[Any]:
    return [panel.make_blueprint(), app.make_blueprint()]
