"""Installing the app: the manifest, icons and service worker of each face, with
validators; the pages link them; the worker's shell answers; the offline page."""

from __future__ import annotations

import io
import json
import re

import pytest
from PIL import Image
from sqlalchemy import update

from core.customer_app import install
from core.host.db import platform_session
from core.testing.weblogin import sign_in_customer
from core.web.uploads import save_image
from tenants.models import Tenant

RED = (220, 20, 20)


@pytest.fixture
def cafe(make_tenant):
    return make_tenant("cafe", name="Café de la Esquina Central")


def _set_logo(platform, tenant, size: tuple[int, int]) -> None:
    picture = io.BytesIO()
    Image.new("RGB", size, RED).save(picture, "PNG")
    picture.seek(0)
    name = save_image(tenant.id, picture, "logo")
    with platform_session(platform.sessions) as session:
        session.execute(update(Tenant).where(Tenant.id == tenant.id).values(logo=name))
        session.commit()


@pytest.fixture
def with_logo(app, platform, cafe):
    _set_logo(platform, cafe, (300, 150))
    return cafe


def _png(answer) -> Image.Image:
    assert answer.status_code == 200 and answer.mimetype == "image/png"
    return Image.open(io.BytesIO(answer.data)).convert("RGB")


def test_the_shared_apps_manifest(client):
    answer = client.get("/app/manifest.webmanifest")
    assert answer.status_code == 200 and answer.mimetype == "application/manifest+json"
    manifest = answer.get_json(force=True)
    assert manifest["start_url"] == manifest["scope"] == manifest["id"] == "/app/"
    assert manifest["display"] == "standalone"
    assert manifest["theme_color"] == "#0f766e"  # the default theme's primary colour
    assert {(i["sizes"], i["purpose"]) for i in manifest["icons"]} == {
        ("192x192", "any"),
        ("512x512", "any"),
        ("192x192", "maskable"),
        ("512x512", "maskable"),
    }
    for icon in manifest["icons"]:
        assert icon["src"].startswith("/app/icon-")
        size = int(icon["sizes"].split("x")[0])
        assert _png(client.get(icon["src"])).size == (size, size)


def test_a_merchants_manifest_names_it_and_keeps_to_its_app(client, cafe):
    manifest = client.get("/t/cafe/app/manifest.webmanifest").get_json(force=True)
    assert manifest["name"] == "Café de la Esquina Central"
    assert manifest["short_name"] == "Café de la"  # whole words, at most 12 characters
    assert manifest["start_url"] == manifest["scope"] == "/t/cafe/app/"
    assert all(icon["src"].startswith("/t/cafe/app/icon-") for icon in manifest["icons"])
    assert manifest["lang"] == "es"


def test_the_icons_are_drawn_from_the_logo(client, with_logo):
    manifest = client.get("/t/cafe/app/manifest.webmanifest").get_json(force=True)
    icons = {(i["sizes"], i["purpose"]): i["src"] for i in manifest["icons"]}
    plain = _png(client.get(icons[("512x512", "any")]))
    assert plain.getpixel((256, 256)) == RED
    assert plain.getpixel((256, 50)) == (255, 255, 255)  # a wide logo, centred on white
    maskable = _png(client.get(icons[("512x512", "maskable")]))
    assert maskable.getpixel((256, 256)) == RED
    # The logo stays inside the safe circle (radius 40%): nothing of it at its edge.
    assert maskable.getpixel((256 - 210, 256)) == (255, 255, 255)
    assert maskable.getpixel((256 + 210, 256)) == (255, 255, 255)


def test_without_a_logo_the_icon_is_the_initial_on_the_themes_colour(client, cafe):
    icon = _png(client.get("/t/cafe/app/icon-192.png"))
    assert icon.getpixel((2, 2)) == (0x0F, 0x76, 0x6E)
    assert (255, 255, 255) in {color for _n, color in icon.getcolors(192 * 192)}  # the "C"


def test_a_new_logo_is_a_new_icon_url(client, app, cafe, platform):
    before = client.get("/t/cafe/app/manifest.webmanifest").get_json(force=True)["icons"]
    _set_logo(platform, cafe, (64, 64))
    after = client.get("/t/cafe/app/manifest.webmanifest").get_json(force=True)["icons"]
    assert {i["src"] for i in before}.isdisjoint({i["src"] for i in after})


@pytest.mark.parametrize("size", ["100", "1024", "180"])
def test_only_the_sizes_phones_ask_for_are_drawn(client, cafe, size):
    assert client.get(f"/t/cafe/app/icon-maskable-{size}.png").status_code == 404
    assert client.get(f"/t/cafe/app/icon-{size}.png").status_code == (200 if size == "180" else 404)


@pytest.mark.parametrize("path", ["/app/manifest.webmanifest", "/app/sw.js", "/app/icon-192.png"])
def test_answers_carry_a_validator_and_a_repeat_is_not_modified(client, cafe, path):
    first = client.get(path)
    assert first.status_code == 200 and first.headers["ETag"]
    assert first.headers["Cache-Control"]
    again = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


@pytest.mark.parametrize(
    ("path", "scope"), [("/app/sw.js", "/app/"), ("/t/cafe/app/sw.js", "/t/cafe/app/")]
)
def test_the_worker_is_served_in_its_scope_and_its_shell_answers(client, cafe, path, scope):
    answer = client.get(path)
    assert answer.status_code == 200 and answer.mimetype == "text/javascript"
    assert answer.headers["Service-Worker-Allowed"] == scope
    assert answer.headers["Cache-Control"] == "no-cache"
    script = answer.get_data(as_text=True)
    config = json.loads(re.search(r"const CONFIG = (\{.*?\});\n", script).group(1))
    assert config["scope"] == scope and config["offline"] == scope + "offline"
    # the theme's files, the icons, the card's QR encoder and the offline page
    assert len(config["shell"]) == len(install.SHELL_FILES) + len(install.ICONS) + 2
    assert config["shell"][-2] == scope + "qr.mjs"
    assert config["shell"][-1] == config["offline"]
    for url in config["shell"]:
        assert client.get(url).status_code == 200, url


def test_the_workers_shell_holds_the_logo(client, with_logo):
    script = client.get("/t/cafe/app/sw.js").get_data(as_text=True)
    shell = json.loads(re.search(r"const CONFIG = (\{.*?\});\n", script).group(1))["shell"]
    logo = [url for url in shell if "/uploads/" in url]
    assert len(logo) == 1 and client.get(logo[0]).status_code == 200


def test_the_workers_version_follows_its_shell(client, platform, cafe):
    # A new logo (new icon URLs) makes a new worker, which caches the new shell.
    def version() -> str:
        script = client.get("/t/cafe/app/sw.js").get_data(as_text=True)
        return re.search(r'"version": "(\w+)"', script).group(1)

    before = version()
    assert version() == before
    _set_logo(platform, cafe, (64, 64))
    assert version() != before


def test_every_app_page_links_the_manifest_icon_and_worker(client, app, cafe, make_member):
    sign_in_customer(client, app, make_member(cafe, "ana@mail.example"))
    page = client.get("/t/cafe/app/").get_data(as_text=True)
    assert '<link rel="manifest" href="/t/cafe/app/manifest.webmanifest">' in page
    assert re.search(r'<link rel="apple-touch-icon" href="/t/cafe/app/icon-180.png\?v=\w+">', page)
    script = re.search(r"<script ([^>]*)></script>", page).group(1)
    assert 'src="/themes/default/static/app-install.js"' in script  # a file: no inline code
    assert 'data-worker="/t/cafe/app/sw.js"' in script
    assert 'data-scope="/t/cafe/app/"' in script


def test_the_offline_page_is_drawn_for_nobody_in_particular(client, app, cafe, make_member):
    member = make_member(cafe, "ana@mail.example", first_name="Ana")
    sign_in_customer(client, app, member)
    answer = client.get("/t/cafe/app/offline")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert "Sin conexión" in page and 'href="/t/cafe/app/"' in page
    assert "app-signout" not in page and "csrf_token" not in page and "Ana" not in page
