"""Marca: a white-label brand sets its look from its panel (colours checked for WCAG AA
contrast, a font served by the app, a square app icon, its e-mails' sender and reply-to,
a footer and links to its terms and privacy pages), previews it live, and saving compiles
a small stylesheet cached under its content's hash.

The look reaches every surface a customer sees through the core's `brand_look`
(`core.sdk.brand_look(tenant)`): the customer app and its manifest and icons, e-mails,
the printable card, plugins' pages and documents. See `plugins.theme.brands`.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from core.sdk import PluginInfo, hookimpl
from plugins.theme import panel
from plugins.theme.hooks import brand_look, settings_links  # noqa: F401  (hook implementations)

PLUGIN = PluginInfo(
    name="theme",
    sdk_version="1.6",
    title=_l("Brand look"),
    description=_l(
        "Your colours, font, app icon and e-mail sender, on every page your customers see."
    ),
    plans=("white-label",),
)


@hookimpl
def blueprints() -> list[Any]:
    return [panel.make_blueprint(), panel.make_assets()]
