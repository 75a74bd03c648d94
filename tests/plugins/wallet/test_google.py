"""Google Wallet: "Save to Google Wallet" sends Ana to Google's save page with a JWT
that verifies with the test's public key (RS256, the service account's key id), is
issued by the service account for Google, and carries Café Central's loyalty class and
her loyalty object: her code (account and QR), her balance. Signed by another key, it
does not verify."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import RSAKey

from core.testing.weblogin import sign_in_customer
from plugins.wallet import google
from tests.plugins.wallet.conftest import CLIENT_EMAIL, ISSUER_ID


def saved_token(client, app, member, slug="cafe") -> str:
    sign_in_customer(client, app, member)
    answer = client.get(f"/t/{slug}/app/wallet/google")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith(google.SAVE_URL)
    return answer.headers["Location"].removeprefix(google.SAVE_URL)


def test_the_jwt_verifies_and_carries_the_members_code(client, app, cafe, ana, wallet_keys):
    token = jwt.decode(
        saved_token(client, app, ana), RSAKey.import_key(wallet_keys["google_public"])
    )
    assert token.header == {"alg": "RS256", "typ": "JWT", "kid": "key-1"}
    claims = token.claims
    assert (claims["iss"], claims["aud"], claims["typ"]) == (CLIENT_EMAIL, "google", "savetowallet")
    assert claims["origins"] == ["http://localhost"]
    (loyalty_class,) = claims["payload"]["loyaltyClasses"]
    assert loyalty_class["id"] == f"{ISSUER_ID}.premia-{cafe.id}"
    assert loyalty_class["programName"] == "Café Central"
    assert loyalty_class["programLogo"]["sourceUri"]["uri"].startswith(
        "http://localhost/t/cafe/app/icon-192.png"
    )
    (loyalty_object,) = claims["payload"]["loyaltyObjects"]
    assert loyalty_object["id"] == f"{ISSUER_ID}.premia-{cafe.id}-{ana.id}"
    assert loyalty_object["classId"] == loyalty_class["id"]
    assert loyalty_object["accountId"] == loyalty_object["barcode"]["value"] == ana.code
    assert loyalty_object["barcode"]["type"] == "QR_CODE"
    assert loyalty_object["loyaltyPoints"] == {"label": "Puntos", "balance": {"int": 1250}}


def test_another_key_does_not_verify_it(client, app, ana):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    with pytest.raises(BadSignatureError):
        jwt.decode(saved_token(client, app, ana), RSAKey.import_key(stranger))
