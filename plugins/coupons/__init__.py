"""Coupons: QR codes worth points. A campaign's single-use codes (generated in the
panel or uploaded as a CSV) or one shared code with a stock; a customer claims one
from the claim page of the merchant's app, which any phone camera opens
(see claims.py for the rules, campaigns.py for the panel's side)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from core.sdk import MANAGERS, Membership, MenuItem, PlanLimit, PluginInfo, Tenant, hookimpl
from plugins.coupons import app, campaigns, claims, models, panel, print_panel

PLUGIN = PluginInfo(
    name="coupons",
    sdk_version="1.6",
    title=_l("Coupons"),
    description=_l("QR codes worth points, printed on flyers, packaging or tickets."),
    plans=("free", "white-label"),
    entry_kinds=claims.ENTRY_KINDS,
    limits=(
        PlanLimit(
            claims.MONTHLY,
            _l("Coupon codes created and shared-code claims per month"),
            seeds={"free": 100, "white-label": None},
        ),
        PlanLimit(
            "coupons.csv_upload",
            _l("Coupon codes per uploaded CSV file (0: no upload)"),
            seeds={"free": 0, "white-label": None},
        ),
    ),
)


@hookimpl
def blueprints() -> list[Any]:
    return [panel.make_blueprint(), app.make_blueprint(), *print_panel.blueprints()]


@hookimpl
def panel_menu(tenant: Tenant) -> list[MenuItem]:
    return [
        MenuItem("t.coupons.index", _l("Coupons"), roles=MANAGERS, order=62),
        MenuItem("t.coupons_print.index", _l("Print QR codes"), roles=MANAGERS, order=63),
    ]


@hookimpl
def app_menu(tenant: Tenant) -> list[MenuItem]:
    return [MenuItem("t.coupons_app.index", _l("Coupons"), order=40)]


@hookimpl
def fill_demo(session: Session, tenant: Tenant) -> None:
    campaigns.fill_demo(session, tenant)


@hookimpl
def member_joined_from_link(session: Session, tenant: Tenant, member: Membership, via: str) -> None:
    code = app.code_of(via)
    if code is not None:
        claims.claim_on_joining(session, tenant, member, code)


__all__ = ["PLUGIN", "models"]
