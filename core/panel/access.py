"""Who may open a panel page: logged-in staff of the tenant, by role.

An employee gives and redeems points and finds customers; settings, staff,
exports and the like are for owners and admins.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort
from flask_login import current_user, login_required

from core.host.actors import EVERYONE, MANAGERS, Role

__all__ = ["EVERYONE", "MANAGERS", "can", "current_landing", "landing", "staff_required"]


def staff_required(*roles: Role) -> Callable:
    """Log in first (redirect to the tenant's login); 403 for a role not in `roles`."""
    allowed = set(roles or EVERYONE)

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def checked(*args: Any, **kwargs: Any) -> Any:
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        return checked

    return decorate


def can(*roles: Role) -> bool:
    """For templates and menus: whether the current user has one of `roles`."""
    return bool(current_user.is_authenticated and current_user.role in set(roles or EVERYONE))


def landing(role: Role | str) -> str:
    """Where a staff member starts after logging in: the cashier at Fidelización (the
    screen of their job), managers at Inicio."""
    return "t.panel_loyalty.index" if role == Role.EMPLOYEE else "t.panel.home"


def current_landing() -> str:
    return landing(current_user.role)
