"""Apple Wallet: a `.pkpass` per membership, a store card with the merchant's name,
colours and logo, the member's balance and the QR of their member code.

A pass is a zip of pass.json, its images, manifest.json (the SHA-1 of every other
file, as Apple's format asks) and `signature`: a detached PKCS #7 signature of the
manifest by the Pass Type ID's certificate, carrying Apple's WWDR intermediate. The
pass carries the static member code: a wallet cannot compute the app's live code, so a
merchant that redeems only with the live QR takes the pass for earning points.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from flask_babel import gettext as _
from PIL import Image, ImageDraw, ImageFont, ImageOps

from core.sdk import Membership, Tenant, brand_colors, logo_file
from plugins.wallet.config import AppleKeys

MIME_TYPE = "application/vnd.apple.pkpass"
# Apple's sizes for a store card: the icon (notifications, lock screen) and the logo
# at the top left of the pass, each at 1× and 2×.
IMAGES = {
    "icon.png": (29, 29),
    "icon@2x.png": (58, 58),
    "logo.png": (160, 50),
    "logo@2x.png": (320, 100),
}
_HEX = re.compile(r"^#([0-9a-fA-F]{6})$")


def rgb(color: str | None, fallback: str) -> str:
    """A CSS hex colour as the pass writes colours: "rgb(15, 118, 110)"."""
    match = _HEX.match(color or "") or _HEX.match(fallback)
    value = match.group(1)
    return "rgb({}, {}, {})".format(*(int(value[i : i + 2], 16) for i in (0, 2, 4)))


def _readable_on(color: str) -> str:
    """White or near-black, whichever reads on `color` (a "rgb(…)" string)."""
    red, green, blue = (int(n) for n in re.findall(r"\d+", color))
    light = 0.299 * red + 0.587 * green + 0.114 * blue > 160
    return "rgb(17, 24, 39)" if light else "rgb(255, 255, 255)"


def pass_json(tenant: Tenant, member: Membership, keys: AppleKeys) -> dict[str, Any]:
    colors = brand_colors(tenant)
    background = rgb(colors.get("primary"), "#0f766e")
    fields = [{"key": "code", "label": _("Code"), "value": member.code}]
    if member.full_name:
        fields.insert(0, {"key": "name", "label": _("Name"), "value": member.full_name})
    return {
        "formatVersion": 1,
        "passTypeIdentifier": keys.pass_type_id,
        "teamIdentifier": keys.team_id,
        "serialNumber": f"{tenant.id}-{member.id}",
        "organizationName": tenant.name,
        "description": _("%(name)s loyalty card", name=tenant.name),
        "logoText": tenant.name,
        "backgroundColor": background,
        "foregroundColor": _readable_on(background),
        "labelColor": _readable_on(background),
        "storeCard": {
            "primaryFields": [
                {
                    "key": "balance",
                    "label": _("Points"),
                    "value": member.balance,
                    "numberStyle": "PKNumberStyleDecimal",
                }
            ],
            "secondaryFields": fields,
        },
        "barcodes": [
            {
                "format": "PKBarcodeFormatQR",
                "message": member.code,
                "messageEncoding": "iso-8859-1",
                "altText": member.code,
            }
        ],
    }


def images(tenant: Tenant) -> dict[str, bytes]:
    """The pass's icon and logo: the merchant's logo fitted on white, or its name's
    initial in white on its primary colour."""
    logo = logo_file(tenant)
    color = rgb(brand_colors(tenant).get("primary"), "#0f766e")
    drawn = {}
    for name, (width, height) in IMAGES.items():
        if logo is not None:
            canvas = Image.new("RGBA", (width, height), (0, 0, 0, 0))
            with Image.open(logo) as source:
                source.seek(0)  # a GIF's first frame
                picture = ImageOps.contain(source.convert("RGBA"), (width, height))
            offset = ((width - picture.width) // 2, (height - picture.height) // 2)
            canvas.paste(picture, offset, picture)
        else:
            side = min(width, height)
            canvas = Image.new("RGBA", (width, height), (0, 0, 0, 0))
            square = Image.new("RGB", (side, side), color)
            font = ImageFont.load_default(size=side * 0.6)
            initial = (tenant.name.strip()[:1] or "?").upper()
            ImageDraw.Draw(square).text(
                (side / 2, side / 2), initial, fill="white", font=font, anchor="mm"
            )
            canvas.paste(square, (0, (height - side) // 2))
        out = io.BytesIO()
        canvas.save(out, "PNG", optimize=True)
        drawn[name] = out.getvalue()
    return drawn


@lru_cache(maxsize=4)
def _signer(certificate: bytes, key: bytes, password: bytes | None, wwdr: bytes) -> tuple:
    # Loading (and checking) an RSA key takes far longer than signing with it: once.
    return (
        x509.load_pem_x509_certificate(certificate),
        serialization.load_pem_private_key(key, password=password),
        x509.load_pem_x509_certificate(wwdr),
    )


def sign(manifest: bytes, keys: AppleKeys) -> bytes:
    """The manifest's detached PKCS #7 signature (DER) by the pass certificate, with
    Apple's WWDR certificate in the chain."""
    certificate, key, wwdr = _signer(keys.certificate, keys.key, keys.password, keys.wwdr)
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(manifest)
        .add_signer(certificate, key, hashes.SHA256())
        .add_certificate(wwdr)
        .sign(
            serialization.Encoding.DER,
            [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
        )
    )


def build_pass(tenant: Tenant, member: Membership, keys: AppleKeys) -> bytes:
    """The signed `.pkpass` of `member`'s card at `tenant`."""
    files = {
        "pass.json": json.dumps(pass_json(tenant, member, keys), ensure_ascii=False).encode(),
        **images(tenant),
    }
    manifest = json.dumps(
        {name: hashlib.sha1(data).hexdigest() for name, data in files.items()}, sort_keys=True
    ).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr("manifest.json", manifest)
        archive.writestr("signature", sign(manifest, keys))
    return out.getvalue()
