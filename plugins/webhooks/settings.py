"""The platform's settings of webhooks (the operator's environment, read at start-up):

- ``PREMIA_WEBHOOKS_ALLOW_PRIVATE``: "1" lets deliveries reach loopback and private
  addresses (development, tests); off by default;
- ``PREMIA_WEBHOOKS_HTTPS_ONLY``: endpoints must be https:// (on by default; "0" in
  development and tests, whose receivers are plain http);
- ``PREMIA_WEBHOOKS_TIMEOUT``: seconds to connect, and between bytes of the answer (5)."""

from __future__ import annotations

import os
from typing import Any


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def configure(app: Any) -> None:
    app.config.setdefault(
        "PREMIA_WEBHOOKS_ALLOW_PRIVATE", _flag("PREMIA_WEBHOOKS_ALLOW_PRIVATE", False)
    )
    app.config.setdefault("PREMIA_WEBHOOKS_HTTPS_ONLY", _flag("PREMIA_WEBHOOKS_HTTPS_ONLY", True))
    app.config.setdefault(
        "PREMIA_WEBHOOKS_TIMEOUT", float(os.environ.get("PREMIA_WEBHOOKS_TIMEOUT") or 5)
    )
