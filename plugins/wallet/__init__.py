"""Wallet passes: the member's card in Apple Wallet (a signed `.pkpass`) and Google
Wallet (a "Save to Google Wallet" link with a signed JWT), offered in the customer app
only when the platform's keys are configured (see plugins.wallet.config)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from core.sdk import MenuItem, PluginInfo, Tenant, hookimpl
from plugins.wallet import app as app_pages
from plugins.wallet import config

PLUGIN = PluginInfo(
    name="wallet",
    sdk_version="1.6",
    title=_l("Wallet passes"),
    description=_l("Customers add their card to Apple Wallet and Google Wallet."),
    plans=("white-label",),
)


@hookimpl
def blueprints() -> list[Any]:
    return [app_pages.make_blueprint()]


@hookimpl
def startup(app: Any) -> None:
    config.read_environment(app.config)


@hookimpl
def app_menu(tenant: Tenant) -> list[MenuItem]:
    # Nothing to offer without keys, nor to a person who is no member here yet.
    if not config.offered() or app_pages.my_membership() is None:
        return []
    return [MenuItem("t.wallet_app.index", _l("Add to my wallet"), order=80)]
