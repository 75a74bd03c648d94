"""News (novedades): offers and promotions with an image, dates and an active flag,
written in the panel and shown in the customer app (a page of its own and a menu entry)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from core.sdk import MANAGERS, MenuItem, PluginInfo, hookimpl
from plugins.news import app, panel
from plugins.news.news import current_news  # noqa: F401  (for the customer app)

PLUGIN = PluginInfo(
    name="news",
    sdk_version="1.6",
    title=_l("News"),
    description=_l("Offers and promotions shown in the customer app."),
    plans=("free", "white-label"),
)


@hookimpl
def blueprints() -> list[Any]:
    return [panel.make_blueprint(), app.make_blueprint()]


@hookimpl
def panel_menu(tenant: Any) -> list[MenuItem]:
    return [MenuItem("t.news.index", _l("News"), roles=MANAGERS, order=60)]


@hookimpl
def app_menu(tenant: Any) -> list[MenuItem]:
    return [MenuItem("t.news_app.index", _l("News"), order=40)]
