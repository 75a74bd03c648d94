"""Google Wallet: a "Save to Google Wallet" link for `member`'s card, a JWT signed
(RS256) with the configured service account's key carrying the merchant's loyalty class
and the member's loyalty object (balance, the QR of their member code). Google creates
both when the person saves the pass; nothing is called from here.

The class is the merchant's (`<issuer>.premia-<tenant id>`), the object the membership's
(`<issuer>.premia-<tenant id>-<member id>`), so a pass saved twice stays one pass.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from flask_babel import gettext as _
from joserfc import jwt
from joserfc.jwk import RSAKey

from core.sdk import Membership, Tenant, brand_colors, external_url
from plugins.wallet.config import GoogleKeys

SAVE_URL = "https://pay.google.com/gp/v/save/"


def class_id(tenant: Tenant, keys: GoogleKeys) -> str:
    return f"{keys.issuer_id}.premia-{tenant.id}"


def object_id(tenant: Tenant, member: Membership, keys: GoogleKeys) -> str:
    return f"{keys.issuer_id}.premia-{tenant.id}-{member.id}"


def claims(tenant: Tenant, member: Membership, keys: GoogleKeys) -> dict[str, Any]:
    color = brand_colors(tenant).get("primary") or "#0f766e"
    logo = external_url("t.app_install.icon", tenant, size=192)
    loyalty_class = {
        "id": class_id(tenant, keys),
        "issuerName": tenant.name,
        "programName": tenant.name,
        "programLogo": {"sourceUri": {"uri": logo}},
        "hexBackgroundColor": color if color.startswith("#") else "#0f766e",
        "reviewStatus": "UNDER_REVIEW",
    }
    loyalty_object = {
        "id": object_id(tenant, member, keys),
        "classId": class_id(tenant, keys),
        "state": "ACTIVE",
        "accountId": member.code,
        "accountName": member.full_name or member.code,
        "loyaltyPoints": {"label": _("Points"), "balance": {"int": member.balance}},
        "barcode": {"type": "QR_CODE", "value": member.code, "alternateText": member.code},
    }
    return {
        "iss": keys.client_email,
        "aud": "google",
        "typ": "savetowallet",
        "iat": int(time.time()),
        "origins": [_origin(external_url("t.app_card.home", tenant))],
        "payload": {"loyaltyClasses": [loyalty_class], "loyaltyObjects": [loyalty_object]},
    }


def _origin(url: str) -> str:
    """Where the save button shows (scheme and host): the merchant's app."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def save_url(tenant: Tenant, member: Membership, keys: GoogleKeys) -> str:
    """The "Save to Google Wallet" link: Google's save page with the signed JWT."""
    header = {"alg": "RS256", "typ": "JWT"}
    if keys.private_key_id:
        header["kid"] = keys.private_key_id
    token = jwt.encode(header, claims(tenant, member, keys), RSAKey.import_key(keys.private_key))
    return SAVE_URL + token
