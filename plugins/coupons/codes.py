"""Coupon codes: drawn unguessable, short enough to type, grouped for print.

Ten characters of an alphabet without look-alikes (no 0/O, 1/I/L) give 31^10, about
50 bits: with the claim page rate-limited per person and address, nobody finds a
valid code by trying. A person may type a code with spaces, dashes or in lower case;
`normalized` reads it back as stored. Codes a merchant uploads keep their own text,
within `UPLOADED` (letters and digits, 4 to 24 once normalized).
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 10
GROUP = 5
UPLOADED = re.compile(r"[A-Z0-9]{4,24}")
_SEPARATORS = str.maketrans("", "", " -._")


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalized(text: str) -> str:
    """A code as typed or scanned, as stored: separators dropped, upper case."""
    return (text or "").strip().translate(_SEPARATORS).upper()


def valid(code: str) -> bool:
    """Whether `code` (normalized) may be a coupon code at all."""
    return bool(UPLOADED.fullmatch(code))


def printed(code: str) -> str:
    """The code as printed and shown, in groups: "ABCDE-FGHJK"."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))
