"""Wallet keys made by the test: a root standing for Apple's, a WWDR intermediate it
signs, the Pass Type ID certificate the intermediate signs (with its key), and a Google
service account's RSA key; an app configured with them, and a white-label merchant
(its seed plan has the wallet: plugins/wallet/migrations)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

PASS_TYPE_ID = "pass.example.premia.test"
TEAM_ID = "TEAM123456"
ISSUER_ID = "3388000000012345678"
CLIENT_EMAIL = "wallet@premia-test.iam.gserviceaccount.com"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _certificate(subject: str, key, issuer: str, issuer_key, *, ca: bool) -> x509.Certificate:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="session")
def wallet_keys(tmp_path_factory) -> dict[str, Any]:
    folder: Path = tmp_path_factory.mktemp("wallet-keys")
    root_key, wwdr_key, pass_key, google_key = _key(), _key(), _key(), _key()
    root = _certificate("Test Root CA", root_key, "Test Root CA", root_key, ca=True)
    wwdr = _certificate("Test WWDR", wwdr_key, "Test Root CA", root_key, ca=True)
    certificate = _certificate(
        f"Pass Type ID: {PASS_TYPE_ID}", pass_key, "Test WWDR", wwdr_key, ca=False
    )
    files = {
        "root.pem": _pem(root),
        "wwdr.pem": _pem(wwdr),
        "pass.pem": _pem(certificate),
        "pass-key.pem": pass_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret"),
        ),
        "google.json": json.dumps(
            {
                "type": "service_account",
                "client_email": CLIENT_EMAIL,
                "private_key_id": "key-1",
                "private_key": google_key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ).decode(),
                "token_uri": "http://127.0.0.1:9/token",
            }
        ).encode(),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {
        "folder": folder,
        "google_public": google_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "config": {
            "PREMIA_WALLET_APPLE_PASS_TYPE_ID": PASS_TYPE_ID,
            "PREMIA_WALLET_APPLE_TEAM_ID": TEAM_ID,
            "PREMIA_WALLET_APPLE_CERTIFICATE": str(folder / "pass.pem"),
            "PREMIA_WALLET_APPLE_KEY": str(folder / "pass-key.pem"),
            "PREMIA_WALLET_APPLE_KEY_PASSWORD": "s3cret",
            "PREMIA_WALLET_APPLE_WWDR": str(folder / "wwdr.pem"),
            "PREMIA_WALLET_GOOGLE_ISSUER_ID": ISSUER_ID,
            "PREMIA_WALLET_GOOGLE_SERVICE_ACCOUNT": str(folder / "google.json"),
        },
    }


@pytest.fixture
def app(make_app, wallet_keys):
    """The app with both wallets configured."""
    application = make_app(**wallet_keys["config"])
    with application.app_context():
        yield application


@pytest.fixture
def cafe(make_tenant):
    return make_tenant("cafe", name="Café Central", plan="white-label")


@pytest.fixture
def ana(cafe, db, make_member):
    from core.host.actors import Actor
    from core.loyalty.ledger import earn
    from core.loyalty.members import Membership

    member = make_member(cafe, "ana@mail.example", first_name="Ana", last_name="Núñez")
    with db(cafe) as session:
        earn(session, session.get(Membership, member.id), points=1250, actor=Actor.system())
        session.commit()
    return member
