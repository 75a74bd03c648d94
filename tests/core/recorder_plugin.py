"""A plugin for tests: records every announcing hook it receives, serves one page.

Registered with `make_app(PREMIA_EXTRA_PLUGINS=[recorder_plugin])`; active for
a tenant whose plan names "recorder". `calls` holds `(hook, tenant slug, detail)`
in call order; tests clear it (see the `recorder` fixtures).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g

from core.host.plugins import PluginInfo, hookimpl

PLUGIN = PluginInfo(name="recorder", title="Recorder", description="Records hook calls.")

calls: list[tuple[str, str, Any]] = []


@hookimpl
def member_created(tenant, member) -> None:
    calls.append(("member_created", tenant.slug, member.id))


@hookimpl
def members_enrolled(tenant, member_ids) -> None:
    calls.append(("members_enrolled", tenant.slug, list(member_ids)))


@hookimpl
def entry_recorded(tenant, entry, member) -> None:
    calls.append(("entry_recorded", tenant.slug, (entry.kind, entry.points, member.id)))


@hookimpl
def entries_recorded(tenant, kind, entry_ids) -> None:
    calls.append(("entries_recorded", tenant.slug, (kind, list(entry_ids))))


@hookimpl
def redemption_changed(tenant, redemption) -> None:
    calls.append(("redemption_changed", tenant.slug, (redemption.id, redemption.status)))


@hookimpl
def points_expired(tenant, entry_count) -> None:
    calls.append(("points_expired", tenant.slug, entry_count))


@hookimpl
def notify(tenant, member, topic, context) -> None:
    calls.append(("notify", tenant.slug, (topic, member.id, context)))


@hookimpl
def blueprints() -> list[Blueprint]:
    # A new blueprint per app: each test builds its own.
    bp = Blueprint("recorder", __name__, url_prefix="/recorder")

    @bp.get("/")
    def page() -> str:
        return f"recorder page of {g.tenant.slug}"

    return [bp]


@hookimpl
def startup(app) -> None:
    # App-wide, outside any tenant's path (as the POS API is).
    app.add_url_rule("/recorder-ping", "recorder_ping", lambda: "pong")


def hooks(name: str) -> list[tuple[str, Any]]:
    """The calls of one hook, as (tenant slug, detail)."""
    return [(slug, detail) for hook, slug, detail in calls if hook == name]


@hookimpl
def panel_menu(tenant):
    from core.sdk import MenuItem

    return [MenuItem("t.recorder.page", f"Recorder of {tenant.slug}", order=900)]


@hookimpl
def dashboard_widgets(session, tenant, since, until):
    from markupsafe import Markup, escape

    return [
        Markup('<section class="card" id="recorder-widget">{} {} → {}</section>').format(
            escape(tenant.slug), since.isoformat(), until.isoformat()
        )
    ]
