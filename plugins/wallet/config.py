"""Where the wallet passes' keys come from: the environment (or the app's config, which
tests fill), read once at start-up. Without them nothing is offered in the app."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import current_app

APPLE_KEYS = (
    "PREMIA_WALLET_APPLE_PASS_TYPE_ID",  # the Pass Type ID, e.g. pass.com.example.premia
    "PREMIA_WALLET_APPLE_TEAM_ID",  # the Apple Developer team that owns it
    "PREMIA_WALLET_APPLE_CERTIFICATE",  # its certificate (PEM file)
    "PREMIA_WALLET_APPLE_KEY",  # the certificate's private key (PEM file)
    "PREMIA_WALLET_APPLE_WWDR",  # Apple's WWDR intermediate certificate (PEM file)
)
APPLE_PASSWORD = "PREMIA_WALLET_APPLE_KEY_PASSWORD"  # optional: the key's passphrase
GOOGLE_KEYS = (
    "PREMIA_WALLET_GOOGLE_ISSUER_ID",  # the Google Wallet issuer account's id
    "PREMIA_WALLET_GOOGLE_SERVICE_ACCOUNT",  # the service account's JSON key file
)


def read_environment(config: dict[str, Any]) -> None:
    """Fill the app's config from the environment where it sets nothing itself."""
    for key in (*APPLE_KEYS, APPLE_PASSWORD, *GOOGLE_KEYS):
        if not config.get(key):
            config[key] = os.environ.get(key) or None


@dataclass(frozen=True)
class AppleKeys:
    pass_type_id: str
    team_id: str
    certificate: bytes
    key: bytes
    wwdr: bytes
    password: bytes | None


@dataclass(frozen=True)
class GoogleKeys:
    issuer_id: str
    client_email: str
    private_key: str
    private_key_id: str | None


def apple() -> AppleKeys | None:
    """Apple Wallet's keys, None unless every one is configured."""
    config = current_app.config
    values = [config.get(key) for key in APPLE_KEYS]
    if not all(values):
        return None
    pass_type_id, team_id, certificate, key, wwdr = values
    password = config.get(APPLE_PASSWORD)
    return AppleKeys(
        pass_type_id=pass_type_id,
        team_id=team_id,
        certificate=Path(certificate).read_bytes(),
        key=Path(key).read_bytes(),
        wwdr=Path(wwdr).read_bytes(),
        password=password.encode() if password else None,
    )


def google() -> GoogleKeys | None:
    """Google Wallet's issuer and service-account key, None unless both are configured."""
    config = current_app.config
    issuer, account = (config.get(key) for key in GOOGLE_KEYS)
    if not (issuer and account):
        return None
    data = json.loads(Path(account).read_text())
    return GoogleKeys(
        issuer_id=str(issuer),
        client_email=data["client_email"],
        private_key=data["private_key"],
        private_key_id=data.get("private_key_id"),
    )


def offered() -> bool:
    """Whether the app offers any wallet at all."""
    config = current_app.config
    return all(config.get(k) for k in APPLE_KEYS) or all(config.get(k) for k in GOOGLE_KEYS)
