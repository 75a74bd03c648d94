"""Installing the customer app on a phone: a web app manifest, icons and a service worker
per face (the shared app, each merchant's app; on a brand's domain, the brand's alone).

The manifest names the face (the merchant's name, never the platform's on a brand),
its colours come from the theme, and its `start_url`/`scope` are the face's app root,
where the service worker is served too (so its scope needs no `Service-Worker-Allowed`
beyond its own folder; the header is sent anyway, naming that scope). Icons are drawn
from the merchant's logo with Pillow in the sizes phones ask for, plus maskable ones
whose logo stays inside the safe circle; with no logo, the name's initial on the
theme's colour. The service worker is ours, a few lines: the app shell (CSS, scripts,
the card's QR encoder, icons, the offline page) cached at install, pages from the
network first (the last copy of a visited page, say the card's QR, or the offline page
when there is none).
Every answer carries a validator (ETag), so a phone revalidates instead of refetching.
"""

from __future__ import annotations

import hashlib
import io
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_babel import get_locale
from PIL import Image, ImageDraw, ImageFont, ImageOps

from core.customer_app.faces import app_url
from core.host.platform import current_platform
from core.web import brand, themes
from core.web.uploads import upload_folder

bp = Blueprint("app_install", __name__, url_prefix="/app")

SHORT_NAME = 12  # characters a home screen shows under an icon
# (size, maskable): Android asks for 192 and 512, maskable too; iOS's apple-touch-icon is 180.
# The favicon is a 32 and a 96 (desktop tabs, Android's shortcut list).
ICONS = {
    (192, False),
    (512, False),
    (192, True),
    (512, True),
    (180, False),
    (32, False),
    (96, False),
}
FAVICONS = (32, 96)
SAFE_ZONE = 0.56  # a maskable icon's logo fits the centre circle (80% wide) as a square
ICON_AGE = 86400  # icon URLs carry a version, so a new logo is a new URL
SHELL_FILES = ("app.css", "app-install.js", "app-card.js", "favicon.svg")
# The QR encoder the card's rotating QR draws with (pinned in package.json), never a CDN.
NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"
QR_ENCODER = ("lean-qr", "index.mjs")
QR_READER = ("jsqr/dist", "jsQR.js")  # the panel's decoder too: one pinned package
DRAWING = "1"  # bump when the drawing changes: every icon URL changes with it


def home_url() -> str:
    """The face's app root: its start URL and its service worker's scope."""
    return app_url("app_card.home" if g.get("tenant") is not None else "app_home.home")


def _name() -> tuple[str, str]:
    tenant = g.get("tenant")
    name = tenant.name if tenant is not None else current_app.config["PREMIA_PLATFORM_NAME"]
    if len(name) <= SHORT_NAME:
        return name, name
    words, short = name.split(), ""
    for word in words:
        if len(f"{short} {word}".strip()) > SHORT_NAME:
            break
        short = f"{short} {word}".strip()
    return name, short or name[:SHORT_NAME]


def _logo() -> Path | None:
    """What the icons are drawn from: the brand's square app icon, else its logo."""
    tenant = g.get("tenant")
    if tenant is None:
        return None
    for name in (brand.look(tenant).icon, tenant.logo):
        path = upload_folder(tenant.id) / name if name else None
        if path is not None and path.is_file():
            return path
    return None


def _colors() -> dict[str, str]:
    colors = brand.look().colors
    return {"primary": colors["primary"], "background": colors["background"]}


def _version(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def icon_url(size: int, maskable: bool = False) -> str:
    """The URL of the face's icon, versioned by what it is drawn from."""
    logo = _logo()
    version = _version(DRAWING, logo.name if logo else _name()[0], _colors())
    endpoint = "app_install.maskable_icon" if maskable else "app_install.icon"
    return app_url(endpoint, size=size, v=version)


def _conditional(response: Response, cache_control: str) -> Response:
    response.set_etag(hashlib.sha256(response.get_data()).hexdigest()[:32])
    response.headers["Cache-Control"] = cache_control
    return response.make_conditional(request)


@bp.get("/manifest.webmanifest")
def manifest() -> Response:
    name, short = _name()
    colors, root = _colors(), home_url()
    icons = [
        {
            "src": icon_url(size, maskable),
            "sizes": f"{size}x{size}",
            "type": "image/png",
            "purpose": "maskable" if maskable else "any",
        }
        for size, maskable in sorted(ICONS)
        if size >= 192
    ]
    body = {
        "id": root,
        "name": name,
        "short_name": short,
        "lang": str(get_locale()).replace("_", "-"),
        "start_url": root,
        "scope": root,
        "display": "standalone",
        "theme_color": colors["primary"],
        "background_color": colors["background"],
        "icons": icons,
    }
    response = Response(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json")
    # The name and language follow the person's language: revalidated on each launch.
    response.vary.update(("Cookie", "Accept-Language"))
    return _conditional(response, "no-cache")


@bp.get("/icon-<int:size>.png", defaults={"maskable": False})
@bp.get("/icon-maskable-<int:size>.png", defaults={"maskable": True}, endpoint="maskable_icon")
def icon(size: int, maskable: bool) -> Response:
    if (size, maskable) not in ICONS:
        abort(404)
    logo = _logo()
    colors = _colors()
    png = draw_icon(
        str(logo) if logo else None,
        logo.stat().st_mtime if logo else 0,
        _name()[0],
        colors["primary"],
        size,
        maskable,
    )
    return _conditional(Response(png, mimetype="image/png"), f"public, max-age={ICON_AGE}")


@lru_cache(maxsize=64)
def draw_icon(
    logo: str | None, _mtime: float, name: str, color: str, size: int, maskable: bool
) -> bytes:
    """A square PNG: the logo on white (within the safe circle when maskable, filling
    the corners of an opaque square otherwise, as iOS shows no transparency), or the
    name's initial in white on `color`."""
    if logo is not None:
        canvas = Image.new("RGB", (size, size), "white")
        with Image.open(logo) as source:
            source.seek(0)  # a GIF's first frame
            picture = source.convert("RGBA")
        inner = round(size * (SAFE_ZONE if maskable else 0.84))
        picture = ImageOps.contain(picture, (inner, inner), Image.Resampling.LANCZOS)
        offset = ((size - picture.width) // 2, (size - picture.height) // 2)
        canvas.paste(picture, offset, picture)
    else:
        canvas = Image.new("RGB", (size, size), color)
        initial = (name.strip()[:1] or "?").upper()
        font = ImageFont.load_default(size=size * (0.4 if maskable else 0.55))
        ImageDraw.Draw(canvas).text(
            (size / 2, size / 2), initial, fill="white", font=font, anchor="mm"
        )
    out = io.BytesIO()
    canvas.save(out, "PNG", optimize=True)
    return out.getvalue()


def _shell() -> list[str]:
    theme = themes.current_theme()
    files = [url_for("theme_static", theme=theme, filename=name) for name in SHELL_FILES]
    icons = [icon_url(size, maskable) for size, maskable in sorted(ICONS)]
    tenant = g.get("tenant")
    files.extend(brand.look().stylesheets)
    logo = upload_folder(tenant.id) / tenant.logo if tenant is not None and tenant.logo else None
    if logo is not None and logo.is_file():  # the app bar shows it, on the offline page too
        files.append(url_for("t.uploads.file", name=tenant.logo))
    return [*files, *icons, app_url("app_install.qr_encoder"), app_url("app_install.offline")]


def _static_digest() -> str:
    digest = hashlib.sha256()
    for name in SHELL_FILES:
        for folder in themes.chain(themes.current_theme()):
            path = themes.THEMES_ROOT / folder / "static" / name
            if path.is_file():
                digest.update(path.read_bytes())
                break
    return digest.hexdigest()


def plugin_scripts(hook: str) -> list[str]:
    """Script URLs the merchant's active plugins add (`app_scripts`,
    `service_worker_scripts`); none on the shared app."""
    tenant = g.get("tenant")
    if tenant is None:
        return []
    active = getattr(g, "active_plugins", set())
    found = current_platform().plugins.call(active, hook, tenant=tenant)
    return [url for urls in found for url in urls or []]


@bp.get("/sw.js")
def worker() -> Response:
    scope, shell = home_url(), _shell()
    imports = plugin_scripts("service_worker_scripts")
    script = render_template(
        "app/sw.js",
        config={
            "version": _version(shell, _static_digest(), imports),
            "imports": imports,
            "scope": scope,
            "shell": shell,
            "offline": app_url("app_install.offline"),
        },
    )
    response = Response(script, mimetype="text/javascript")
    response.headers["Service-Worker-Allowed"] = scope
    return _conditional(response, "no-cache")


@bp.get("/qr.mjs")
def qr_encoder() -> Response:
    """lean-qr's ES module (what static/app-card.js imports), kept in the shell offline."""
    folder, name = QR_ENCODER
    return send_from_directory(
        NODE_MODULES / folder, name, max_age=86400, mimetype="text/javascript"
    )


@bp.get("/qr-reader.js")
def qr_reader() -> Response:
    """jsQR, for the app's pages that read a QR with the phone's camera (static/scanner.js:
    a coupon's QR); loaded on the first scan only."""
    folder, name = QR_READER
    return send_from_directory(
        NODE_MODULES / folder, name, max_age=86400, mimetype="text/javascript"
    )


@bp.get("/offline")
def offline() -> str:
    # Cached by the service worker for anyone on this phone: drawn for nobody in particular.
    g.customer = None
    return render_template("app/offline.html")


@bp.app_template_global()
def app_install() -> dict[str, str]:
    """What `app/base.html` links: the manifest, the apple-touch-icon, the worker (and
    the card's QR encoder)."""
    return {
        "qr_encoder": app_url("app_install.qr_encoder"),
        "manifest": app_url("app_install.manifest"),
        "touch_icon": icon_url(180),
        "worker": app_url("app_install.worker"),
        "scope": home_url(),
        "short_name": _name()[1],
        "scripts": plugin_scripts("app_scripts"),
        "favicons": {size: icon_url(size) for size in FAVICONS},
    }
