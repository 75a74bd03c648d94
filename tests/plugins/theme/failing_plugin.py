"""A plugin for the theme's tests: an app page that fails (a 500 on a brand's domain)."""

from __future__ import annotations

from flask import Blueprint

from core.sdk import PluginInfo, hookimpl

PLUGIN = PluginInfo(name="failing", title="Failing", plans=("white-label",))


@hookimpl
def blueprints() -> list[Blueprint]:
    bp = Blueprint("failing", __name__, url_prefix="/app/failing")

    @bp.get("/")
    def page() -> str:
        raise RuntimeError("boom")

    return [bp]
