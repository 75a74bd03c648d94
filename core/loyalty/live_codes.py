"""Live codes: the rotating code the customer app's QR carries, so a photo of someone's
card stops working within a minute.

Each membership has a secret of its own (drawn the first time the app shows the card,
given to the app only over the signed-in session). The app derives a six-digit code from
it every 30 seconds in the manner of TOTP (RFC 6238: HMAC-SHA1 over the window number,
dynamic truncation), so it keeps rotating offline, and its QR says "<member code>-<digits>".
The till accepts the current window and the previous one (a code shown just before it
rolled over); anything older is refused. The static member code (a printed card, a code
typed at the till) keeps working; a merchant may require the live QR for redemptions
(the program setting `live_code_for_redemptions`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import struct

from flask_babel import lazy_gettext as _l

from core.host.db import utcnow
from core.host.errors import NotFound

STEP = 30  # seconds a live code lasts
DIGITS = 6
ACCEPTED_WINDOWS = 2  # the current window and the previous one
SECRET_BYTES = 20  # RFC 4226's recommended length for HMAC-SHA1
# "<member code>-<digits>": no member code has a dash, so the two never meet.
_LIVE = re.compile(rf"^([A-Z0-9]{{1,16}})-([0-9]{{{DIGITS}}})$")


class StaleLiveCode(NotFound):
    """A live code of a real member whose window has passed (a photo, a screenshot)."""

    reason = "stale_live_code"
    message = _l("This QR code is out of date: ask the customer to show their card again.")


def new_secret() -> str:
    """A membership's secret, base32 as authenticator apps and the app's script take it."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def window(at: float | None = None) -> int:
    """The number of the 30-second window `at` (a Unix time; now by default, the clock
    `clock_at` moves) falls in."""
    return int((utcnow().timestamp() if at is None else at) // STEP)


def code_for(secret: str, at_window: int) -> str:
    """RFC 6238's code of `secret` for window `at_window` (what the app computes)."""
    key = base64.b32decode(secret)
    digest = hmac.new(key, struct.pack(">Q", at_window), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**DIGITS).zfill(DIGITS)


def live_code(member_code: str, secret: str, at: float | None = None) -> str:
    """What the app's QR says at `at`: the member code and the window's digits."""
    return f"{member_code}-{code_for(secret, window(at))}"


def parse(text: str) -> tuple[str, str] | None:
    """(member code, digits) when `text` is a live code, None otherwise."""
    match = _LIVE.match(text)
    return (match.group(1), match.group(2)) if match else None


def verify(secret: str | None, digits: str, at: float | None = None) -> bool:
    """Whether `digits` are `secret`'s code for the current window or the previous one."""
    if not secret:
        return False
    now = window(at)
    return any(
        hmac.compare_digest(code_for(secret, now - back), digits)
        for back in range(ACCEPTED_WINDOWS)
    )
