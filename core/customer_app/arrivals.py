"""The link a person arrived from on a merchant's pages, remembered until they join.

A plugin's page (an invitation's landing page) keeps a short text, `via`, in the
person's browser with `remember`; registering carries it into the confirmation link
(which may be opened in another browser), and Google/Facebook sign-in and the card's
join button find it in the browser. When the person becomes a new member there,
`core.loyalty.joining.join(…, via=…)` tells the plugins (`member_joined_from_link`).
The core gives `via` no meaning: it is the plugin's to read.
"""

from __future__ import annotations

import re

from flask import session as cookie

from tenants.models import Tenant

KEY = "arrived_via"
_VIA = re.compile(r"[A-Za-z0-9:_.-]{1,80}")


def valid(via: object) -> str | None:
    """`via` if it is a short plain text a link may carry, else None."""
    return via if isinstance(via, str) and _VIA.fullmatch(via) else None


def remember(tenant: Tenant, via: str) -> None:
    """Keep `via` in the person's browser for `tenant`'s pages (the last one wins)."""
    if valid(via) is None:
        raise ValueError(f"not a valid arrival: {via!r}")
    cookie[KEY] = {**(cookie.get(KEY) or {}), str(tenant.id): via}


def recalled(tenant: Tenant | None) -> str | None:
    """What `remember` kept for `tenant` in this browser, if anything."""
    if tenant is None:
        return None
    return valid((cookie.get(KEY) or {}).get(str(tenant.id)))
