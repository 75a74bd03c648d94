"""Forging signed tokens in tests, so that a forgery is never the original by chance."""

from __future__ import annotations


def tampered(token: str) -> str:
    """The token with one character of its signature changed.

    The character is taken from the middle of the signature: a token's last base64 character
    carries padding bits, so changing it may decode to the same bytes and still verify.
    """
    at = len(token) - 8
    swap = "B" if token[at] == "A" else "A"
    return token[:at] + swap + token[at + 1 :]
