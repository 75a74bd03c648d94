"""Automatic membership: a person of the shared app becomes a member of the merchant at
the first points given to them, without the cashier's offer to enrol them.

The person shows the personal code of the shared app (where they are no member yet);
a grant to that code, at the till or through the POS API, enrols them with it and
gives the welcome points once. Without this plugin the till offers the enrolment and
the POS API answers such a code as unknown.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from core.sdk import PluginInfo, hookimpl

PLUGIN = PluginInfo(
    name="auto_membership",
    sdk_version="1.6",
    title=_l("Automatic membership"),
    description=_l(
        "A customer of the shared app becomes a member at the first points given to them."
    ),
    plans=("white-label",),
)


@hookimpl
def enrol_at_first_points(session: Any, tenant: Any) -> bool:
    return True
