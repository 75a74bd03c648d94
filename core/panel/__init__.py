"""The merchant's panel: one module per menu entry, each a blueprint under
`/t/<slug>/panel/`, rendered with the tenant's theme.

`menu.py` holds the menu (core entries and plugins' through the `panel_menu`
hook) and `access.py` who may open what. A screen module declares its
blueprint and its menu entry; `blueprints()` lists them for the app.
"""

from __future__ import annotations

from flask import Blueprint

from core.panel import (
    activity,
    customers,
    dashboard,
    domain,
    locations,
    loyalty,
    profile,
    rewards,
    settings,
    staff,
)


def blueprints() -> list[Blueprint]:
    """Every screen's blueprint (new ones per app: blueprints nest per app)."""
    return [
        dashboard.make_blueprint(),
        profile.make_blueprint(),
        loyalty.make_blueprint(),
        customers.make_blueprint(),
        activity.make_blueprint(),
        rewards.make_blueprint(),
        staff.make_blueprint(),
        locations.make_blueprint(),
        settings.make_blueprint(),
        domain.make_blueprint(),
    ]
