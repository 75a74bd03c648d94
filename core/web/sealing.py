"""Secrets the platform must read back (an operator's TOTP key), sealed at rest.

AES-256-GCM from `cryptography`: a database dump or backup alone reveals none of them.
The key is `PREMIA_SEAL_KEY` (32 bytes, URL-safe base64) when set, else derived from the
app's `SECRET_KEY` with HKDF, one key per purpose; changing either makes the sealed
values unreadable (an operator then signs in with a recovery code and enrols again).
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

NONCE = 12


class Unreadable(Exception):
    """A sealed value that this key did not seal (or that was altered)."""


def _key(purpose: str) -> bytes:
    configured = current_app.config.get("PREMIA_SEAL_KEY")
    root = (
        base64.urlsafe_b64decode(configured + "=" * (-len(configured) % 4))
        if configured
        else str(current_app.config["SECRET_KEY"]).encode()
    )
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"premia-{purpose}".encode()
    ).derive(root)


def seal(plain: bytes, purpose: str) -> str:
    """`plain` encrypted and authenticated, as URL-safe base64 without padding."""
    nonce = os.urandom(NONCE)
    sealed = AESGCM(_key(purpose)).encrypt(nonce, plain, purpose.encode())
    return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()


def unseal(text: str, purpose: str) -> bytes:
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    try:
        return AESGCM(_key(purpose)).decrypt(raw[:NONCE], raw[NONCE:], purpose.encode())
    except InvalidTag as error:
        raise Unreadable(purpose) from error
