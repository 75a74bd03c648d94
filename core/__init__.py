"""Premia's core: tenants' points ledger, customers, rewards, staff and the plugin host.

`gunicorn 'core:create_app()'` serves the platform.
"""

from __future__ import annotations

from typing import Any


def create_app(config: dict[str, Any] | None = None) -> Any:
    from core.app import create_app as factory  # keeps `import core.host.db` light

    return factory(config)
