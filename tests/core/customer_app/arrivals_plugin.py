"""A plugin for tests of `member_joined_from_link`: a landing page that keeps
`via` (`remember_arrival`), and a log of the joinings it is told about."""

from __future__ import annotations

from flask import Blueprint, g

from core.sdk import PluginInfo, hookimpl, remember_arrival

PLUGIN = PluginInfo(name="arrivals", title="Arrivals", description="Joinings from links.")
joined: list[tuple[str, int, str]] = []


@hookimpl
def blueprints() -> list[Blueprint]:
    bp = Blueprint("arrivals", __name__, url_prefix="/app/arrivals")

    @bp.get("/from/<campaign>")
    def landing(campaign: str) -> str:
        remember_arrival(g.tenant, f"arrivals:{campaign}")
        return "welcome"

    return [bp]


@hookimpl
def member_joined_from_link(session, tenant, member, via: str) -> None:
    joined.append((tenant.slug, member.id, via))
