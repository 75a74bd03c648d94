"""Apple Wallet: Ana's pass from Café Central's app unzips into pass.json, the images and
manifest.json; every file's SHA-1 matches the manifest, and the manifest's detached
PKCS #7 signature verifies (openssl) against the test's root through the WWDR stand-in;
a file changed after signing no longer matches, a changed manifest no longer verifies.
The pass carries the café's name and colours, her balance and the QR of her code."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import zipfile

from PIL import Image

from core.testing.weblogin import sign_in_customer
from plugins.wallet import apple
from tests.plugins.wallet.conftest import PASS_TYPE_ID, TEAM_ID


def download(client, app, member, slug="cafe"):
    sign_in_customer(client, app, member)
    answer = client.get(f"/t/{slug}/app/wallet/card.pkpass")
    assert answer.status_code == 200, answer.status_code
    assert answer.mimetype == "application/vnd.apple.pkpass"
    assert answer.headers["Cache-Control"] == "no-store"
    return zipfile.ZipFile(io.BytesIO(answer.data))


def verifies(folder, manifest: bytes, signature: bytes, tmp_path) -> bool:
    (tmp_path / "manifest.json").write_bytes(manifest)
    (tmp_path / "signature").write_bytes(signature)
    run = subprocess.run(
        [
            "openssl",
            "smime",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(tmp_path / "signature"),
            "-content",
            str(tmp_path / "manifest.json"),
            "-CAfile",
            str(folder / "root.pem"),
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
        capture_output=True,
    )
    return run.returncode == 0


def test_the_pass_unzips_matches_its_manifest_and_its_signature_verifies(
    client, app, ana, wallet_keys, tmp_path
):
    archive = download(client, app, ana)
    names = set(archive.namelist())
    assert names == {"pass.json", "manifest.json", "signature", *apple.IMAGES}
    manifest_bytes = archive.read("manifest.json")
    manifest = json.loads(manifest_bytes)
    assert set(manifest) == names - {"manifest.json", "signature"}
    for name, digest in manifest.items():
        assert hashlib.sha1(archive.read(name)).hexdigest() == digest, name
    signature = archive.read("signature")
    assert verifies(wallet_keys["folder"], manifest_bytes, signature, tmp_path)
    # a manifest changed after signing (another balance's pass.json): refused
    forged = json.dumps({**manifest, "pass.json": hashlib.sha1(b"{}").hexdigest()}).encode()
    assert not verifies(wallet_keys["folder"], forged, signature, tmp_path)
    for name, (width, height) in apple.IMAGES.items():
        assert Image.open(io.BytesIO(archive.read(name))).size == (width, height)


def test_the_pass_carries_the_brand_the_balance_and_the_code(client, app, ana):
    data = json.loads(download(client, app, ana).read("pass.json"))
    assert (data["passTypeIdentifier"], data["teamIdentifier"]) == (PASS_TYPE_ID, TEAM_ID)
    assert data["organizationName"] == data["logoText"] == "Café Central"
    assert data["description"] == "Tarjeta de Café Central"
    assert data["backgroundColor"] == "rgb(15, 118, 110)"  # the default theme's primary
    assert data["foregroundColor"] == "rgb(255, 255, 255)"
    (balance,) = data["storeCard"]["primaryFields"]
    assert (balance["label"], balance["value"]) == ("Puntos", 1250)
    fields = {f["key"]: f["value"] for f in data["storeCard"]["secondaryFields"]}
    assert fields == {"name": "Ana Núñez", "code": ana.code}
    (barcode,) = data["barcodes"]
    assert barcode["format"] == "PKBarcodeFormatQR" and barcode["message"] == ana.code
    assert data["serialNumber"] == f"{ana.tenant_id}-{ana.id}"


def test_colours_follow_the_hex_and_fall_back():
    assert apple.rgb("#FFFFFF", "#000000") == "rgb(255, 255, 255)"
    assert apple.rgb("var(--x)", "#0f766e") == "rgb(15, 118, 110)"
