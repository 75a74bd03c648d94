"""Sealed secrets: read back with the key that sealed them, refused when altered, one
key per purpose."""

from __future__ import annotations

import base64

import pytest

from core.web import sealing


def test_a_sealed_value_reads_back_and_hides_what_it_holds(app):
    secret = b"twenty bytes of key!"
    sealed = sealing.seal(secret, "operator-totp")
    assert secret not in base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
    assert len(sealed) == 64  # what the TOTP column holds
    assert sealing.unseal(sealed, "operator-totp") == secret
    assert sealing.seal(secret, "operator-totp") != sealed  # a fresh nonce each time


def test_an_altered_value_or_another_purpose_is_unreadable(app):
    sealed = sealing.seal(b"twenty bytes of key!", "operator-totp")
    altered = sealed[:20] + ("A" if sealed[20] != "A" else "B") + sealed[21:]
    for text, purpose in ((altered, "operator-totp"), (sealed, "something-else")):
        with pytest.raises(sealing.Unreadable):
            sealing.unseal(text, purpose)


def test_the_configured_key_is_the_one_used(app, monkeypatch):
    sealed = sealing.seal(b"twenty bytes of key!", "operator-totp")
    key = base64.urlsafe_b64encode(b"k" * 32).decode().rstrip("=")
    monkeypatch.setitem(app.config, "PREMIA_SEAL_KEY", key)
    with pytest.raises(sealing.Unreadable):
        sealing.unseal(sealed, "operator-totp")
    assert sealing.unseal(sealing.seal(b"x", "operator-totp"), "operator-totp") == b"x"
