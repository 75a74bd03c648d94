"""Images merchants upload (rewards, news, their logo): checked, stored, served per tenant.

Files live in `PREMIA_UPLOAD_FOLDER` (default `instance/uploads/`), one folder
per tenant id, under a random name: `<folder>/<tenant_id>/<32 hex>.<ext>`.
The database keeps only the name. They are served at `/t/<slug>/uploads/<name>`
from the request's own tenant folder, so another merchant's name answers 404.
In production with several app servers the folder must be shared storage (a
network volume or a bucket mounted there), or each server sees only its own.

An image is accepted by its content, never its name or declared type: Pillow
opens and verifies it when installed, else its magic bytes are checked; only
PNG, JPEG, GIF and WebP (no SVG: it may carry scripts), at most
`PREMIA_MAX_IMAGE_BYTES` (default 2 MB) and `PREMIA_MAX_IMAGE_PIXELS` (default 40
million, all frames counted): a few kilobytes of PNG can unpack into gigabytes
of pixels, which a browser, WeasyPrint or a thumbnail would then have to hold.
Pillow comes with WeasyPrint; the magic-bytes check without it cannot count pixels.
"""

from __future__ import annotations

import io
import re
import secrets
import sys
from pathlib import Path
from typing import IO, Any

from flask import Blueprint, abort, current_app, g, send_from_directory
from flask_babel import lazy_gettext as _l

from core.host.errors import InvalidInput

try:  # optional: a stricter check than the magic bytes
    from PIL import Image, UnidentifiedImageError
except ImportError:  # pragma: no cover - depends on the installation
    Image = None  # type: ignore[assignment]

DEFAULT_MAX_BYTES = 2 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000  # a 48-megapixel phone photo is over 2 MB anyway
# Magic bytes → extension; WebP is RIFF....WEBP.
MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)
PIL_FORMATS = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "WEBP": "webp"}
NAME = re.compile(r"^[0-9a-f]{32}\.(png|jpg|gif|webp)$")


def upload_folder(tenant_id: int) -> Path:
    """The tenant's own folder of stored files (its logo, images, a plugin's
    generated files in a subfolder of the plugin's name); never served as a whole."""
    return Path(current_app.config["PREMIA_UPLOAD_FOLDER"]) / str(int(tenant_id))


def image_kind(data: bytes) -> str | None:
    """The extension of a PNG, JPEG, GIF or WebP image, from its content; None otherwise."""
    if Image is not None:
        try:
            with Image.open(io.BytesIO(data)) as image:
                kind = PIL_FORMATS.get(image.format or "")
                image.verify()  # reads the whole file: a truncated or forged body fails
            return kind
        except (
            UnidentifiedImageError,
            OSError,
            SyntaxError,
            ValueError,
            Image.DecompressionBombError,
        ):
            return None
    for magic, kind in MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def pixel_count(data: bytes) -> int | None:
    """Width × height × frames from the image's header (no pixel is decoded); None when
    Pillow is missing or cannot read it."""
    if Image is None:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            return width * height * getattr(image, "n_frames", 1)
    except Image.DecompressionBombError:  # over twice Pillow's own limit
        return sys.maxsize
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        return None


def save_image(tenant_id: int, stream: IO[bytes], field: str = "image") -> str:
    """Check and store an uploaded image; return its stored name (InvalidInput if refused)."""
    limit = int(current_app.config.get("PREMIA_MAX_IMAGE_BYTES") or DEFAULT_MAX_BYTES)
    data = stream.read(limit + 1)
    if not data:
        raise InvalidInput(**{field: _l("The file is empty.")})
    if len(data) > limit:
        raise InvalidInput(
            **{field: _l("The image may not be larger than %(size)s MB.", size=_megabytes(limit))}
        )
    max_pixels = int(current_app.config.get("PREMIA_MAX_IMAGE_PIXELS") or DEFAULT_MAX_PIXELS)
    if (pixel_count(data) or 0) > max_pixels:
        raise InvalidInput(
            **{
                field: _l(
                    "The image may not have more than %(megapixels)s megapixels.",
                    megapixels=f"{max_pixels / 1_000_000:g}",
                )
            }
        )
    kind = image_kind(data)
    if kind is None:
        raise InvalidInput(**{field: _l("Upload a PNG, JPEG, GIF or WebP image.")})
    folder = upload_folder(tenant_id)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_hex(16)}.{kind}"
    (folder / name).write_bytes(data)
    return name


def delete_image(tenant_id: int, name: str | None) -> None:
    """Remove a stored image (a replaced one, or one whose record was not saved)."""
    if name and NAME.fullmatch(name):
        (upload_folder(tenant_id) / name).unlink(missing_ok=True)


def _megabytes(limit: int) -> str:
    return f"{limit / (1024 * 1024):g}"


def make_blueprint() -> Blueprint:
    bp = Blueprint("uploads", __name__, url_prefix="/uploads")

    @bp.get("/<name>")
    def file(name: str) -> Any:
        if not NAME.fullmatch(name):
            abort(404)
        response = send_from_directory(upload_folder(g.tenant.id), name, max_age=86400)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    return bp
