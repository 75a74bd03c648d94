"""Health check, JSON error answers, and the app served by a real gunicorn."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from core.app import create_app

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")


def test_healthz_reports_the_database(make_app):
    response = make_app().test_client().get("/healthz")
    assert response.status_code == 200
    assert response.is_json
    assert response.get_json() == {"status": "ok", "database": "ok", "failed_jobs": 0}


@pytest.mark.redis
def test_healthz_reports_redis_when_configured(make_app, redis_url):
    response = make_app(PREMIA_REDIS_URL=redis_url).test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_healthz_with_unreachable_redis_answers_503(make_app):
    response = make_app(PREMIA_REDIS_URL="redis://127.0.0.1:1/0").test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "ok", "redis": "error"}


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://postgres@127.0.0.1:1/nope",
    "sqlite:////nonexistent-premia-dir/nope.db",
], ids=["postgresql", "sqlite"])
def test_healthz_with_unreachable_database_answers_503(url, tmp_path, monkeypatch):
    # create_app directly: make_app's clean-up would need the database.
    monkeypatch.setenv("PREMIA_INSTANCE_PATH", str(tmp_path))
    app = create_app({"TESTING": True, "PREMIA_DATABASE_URL": url, "PREMIA_REDIS_URL": None})
    try:
        response = app.test_client().get("/healthz")
    finally:
        app.extensions["premia"].engine.dispose()
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "error", "failed_jobs": 0}


def test_not_found_answers_json_when_asked(make_app):
    client = make_app().test_client()
    for path in ("/no-such-page", "/t/no-such-shop/login"):
        response = client.get(path, headers={"Accept": "application/json"})
        assert response.status_code == 404
        assert response.is_json
        body = response.get_json()
        assert body["status"] == 404
        assert body["reason"] == "not_found"
        assert isinstance(body["message"], str) and body["message"]
        assert set(body) == {"status", "reason", "message"}


def test_not_found_answers_html_to_a_browser(make_app):
    response = make_app().test_client().get(
        "/no-such-page", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    )
    assert response.status_code == 404
    assert not response.is_json
    assert response.mimetype == "text/html"


def test_method_not_allowed_answers_json_too(make_app):
    response = make_app().test_client().post(
        "/healthz", headers={"Accept": "application/json"}
    )
    assert response.status_code == 405
    assert response.get_json()["reason"] == "method_not_allowed"


def test_a_body_over_the_request_limit_is_refused_unread(make_app):
    client = make_app(PREMIA_MAX_REQUEST_BYTES=1000).test_client()
    response = client.post("/signup/", data={"name": "x" * 1001},
                           headers={"Accept": "application/json"})
    assert response.status_code == 413
    assert response.get_json() == {
        "status": 413, "reason": "request_entity_too_large",
        "message": "La solicitud es demasiado grande: envía como máximo 0.000953674 MB."}
    assert make_app().config["MAX_CONTENT_LENGTH"] == 16 * 1024 * 1024  # the default


# --- a real server -------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, host: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def gunicorn(database_url, tmp_path):
    """`gunicorn 'core:create_app()'` on a free port, configured only by the environment."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREMIA_")}
    env.update(PREMIA_DATABASE_URL=database_url, PREMIA_INSTANCE_PATH=str(tmp_path))
    log = (tmp_path / "gunicorn.log").open("w+")
    process = subprocess.Popen(
        [str(GUNICORN), "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "core:create_app()"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                log.seek(0)
                pytest.fail(f"gunicorn exited with {process.returncode}:\n{log.read()}")
            try:
                _get(f"{base}/healthz")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"gunicorn did not answer within 20 s:\n{log.read()}")
                time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_gunicorn_serves_the_app(gunicorn, make_tenant):
    status, body = _get(f"{gunicorn}/healthz")
    assert status == 200
    assert json.loads(body) == {"status": "ok", "database": "ok", "failed_jobs": 0}

    make_tenant("por-gunicorn", name="Tienda Gunicorn", domain="puntos.gunicorn.example",
                plan="white-label")
    status, body = _get(f"{gunicorn}/t/por-gunicorn/login")
    assert status == 200 and "Tienda Gunicorn" in body.decode()
    # the brand's own domain, through the real WSGI server and the middleware
    status, body = _get(f"{gunicorn}/login", host="puntos.gunicorn.example")
    assert status == 200 and "Tienda Gunicorn" in body.decode()
    status, _ = _get(f"{gunicorn}/t/no-such-shop/login")
    assert status == 404
