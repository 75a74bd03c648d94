"""Browser tests: the app served for real on 127.0.0.1 and driven by Debian's Chromium
through Playwright (never a browser Playwright downloads).

`live_server` serves an app on the test database from a thread (werkzeug, a random
port); `browser` is one headless Chromium per test session; `camera_browser(path)`
launches one whose fake camera plays a Y4M video (see `qr_video`). `shoot(page, name)`
saves a screenshot to build/screenshots/ (kept by CI as an artifact).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import segno
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = os.environ.get("PREMIA_TEST_CHROMIUM", "/usr/bin/chromium")
# Chromium in a container: no sandbox (no user namespaces), /dev/shm may be tiny.
ARGS = ["--no-sandbox", "--disable-dev-shm-usage"]
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}


class LiveServer:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # Mailed links lead here, as `premia serve` makes them lead to itself.
        app.config["PREMIA_PUBLIC_URL"] = self.url
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.thread.join(10)


@pytest.fixture
def app(make_app):
    """The served app: no SERVER_NAME, so it answers on 127.0.0.1:<port>."""
    application = make_app(SERVER_NAME=None)
    with application.app_context():
        yield application


@pytest.fixture
def live_server(app) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def camera_browser(playwright: Playwright) -> Iterator[Callable[[Path], Browser]]:
    """A Chromium whose camera plays `video` (granted without asking)."""
    launched: list[Browser] = []

    def launch(video: Path) -> Browser:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                *ARGS,
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ],
        )
        launched.append(chromium)
        return chromium

    yield launch
    for chromium in launched:
        chromium.close()


def csp_violations(context: BrowserContext) -> list[str]:
    """What the Content-Security-Policy refused on any page of `context` from now on
    (Chromium reports each refusal on the console; the page's own event is logged
    too, in case a message changes wording). A test asserts it stays empty."""
    found: list[str] = []
    context.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => console.error("
        "'Content Security Policy violation: ' + e.violatedDirective + ' ' + e.blockedURI))"
    )
    context.on(
        "console",
        lambda message: (
            found.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return found


def shoot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def qr_video(
    text: str, path: Path, *, width: int = 640, height: int = 480, frames: int = 5
) -> Path:
    """A Y4M video (what Chromium's fake camera plays) of a QR code holding `text`,
    centred on white: a header, then per frame 'FRAME' and the I420 planes (luma
    drawn from the QR's modules, both chroma planes neutral grey)."""
    matrix = [list(row) for row in segno.make_qr(text).matrix_iter(scale=1, border=4)]
    module = min(width, height) * 3 // 4 // len(matrix)  # the QR fills ~3/4 of the frame
    size = module * len(matrix)
    left, top = (width - size) // 2, (height - size) // 2
    luma = bytearray(b"\xff" * (width * height))
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                for dy in range(module):
                    start = (top + y * module + dy) * width + left + x * module
                    luma[start : start + module] = b"\x10" * module
    chroma = b"\x80" * (width // 2 * height // 2)
    with path.open("wb") as video:
        video.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            video.write(b"FRAME\n" + bytes(luma) + chroma + chroma)
    return path
