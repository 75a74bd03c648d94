"""A plugin for tests of the customer app's hooks: a page of its own in the app, an
entry in the app's menu, a line on the card. Active where the plan names "gifts";
`broken` makes its card line raise."""

from __future__ import annotations

from flask import Blueprint, g

from core.sdk import MenuItem, PluginInfo, SummaryLine, customer_required, hookimpl

PLUGIN = PluginInfo(name="gifts", title="Gifts", description="Gifts in the customer app.")
broken = False


@hookimpl
def blueprints() -> list[Blueprint]:
    bp = Blueprint("gifts", __name__, url_prefix="/app/gifts")

    @bp.get("/")
    @customer_required
    def page() -> str:
        return f"gifts of {g.tenant.slug}"

    return [bp]


@hookimpl
def app_menu(tenant):
    return [MenuItem("t.gifts.page", f"Gifts of {tenant.slug}", order=50)]


@hookimpl
def card_lines(session, tenant, member):
    if broken:
        raise RuntimeError("gifts are broken")
    return [SummaryLine("Gifts waiting", f"{member.balance // 10} at {tenant.slug}")]
