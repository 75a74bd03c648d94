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


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres@127.0.0.1:1/nope",
        "sqlite:////nonexistent-premia-dir/nope.db",
    ],
    ids=["postgresql", "sqlite"],
)
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


def test_the_servers_entry_point_freezes_what_outlives_requests(database_url):
    """`core:create_app()` (gunicorn's) leaves the app's objects out of the collector's
    full passes (core.settle_heap); the factory the tests use does not."""
    import gc

    import core

    config = {"TESTING": True, "PREMIA_DATABASE_URL": database_url, "PREMIA_REDIS_URL": None}
    gc.unfreeze()
    apps = [create_app(config)]
    try:
        assert gc.get_freeze_count() == 0
        apps.append(core.create_app(config))
        assert gc.get_freeze_count() > 10_000  # the modules, the models, the app
        # The app itself is among them: a full collection no longer walks it.
        assert not any(obj is apps[1] for obj in gc.get_objects(generation=2))
    finally:
        gc.unfreeze()  # the test process's other tests collect as before
        for app in apps:
            app.extensions["premia"].engine.dispose()


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
    response = (
        make_app()
        .test_client()
        .get("/no-such-page", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    )
    assert response.status_code == 404
    assert not response.is_json
    assert response.mimetype == "text/html"


def test_method_not_allowed_answers_json_too(make_app):
    response = make_app().test_client().post("/healthz", headers={"Accept": "application/json"})
    assert response.status_code == 405
    assert response.get_json()["reason"] == "method_not_allowed"


def test_a_body_over_the_request_limit_is_refused_unread(make_app):
    client = make_app(PREMIA_MAX_REQUEST_BYTES=1000).test_client()
    response = client.post(
        "/signup/", data={"name": "x" * 1001}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 413
    assert response.get_json() == {
        "status": 413,
        "reason": "request_entity_too_large",
        "message": "La solicitud es demasiado grande: envía como máximo 0.000953674 MB.",
    }
    assert make_app().config["MAX_CONTENT_LENGTH"] == 16 * 1024 * 1024  # the default


@pytest.mark.parametrize(
    ("language", "title", "text"),
    [
        ("es", "Página no encontrada", "Puede que la dirección esté mal escrita"),
        ("en", "Page not found", "The address may be mistyped"),
        ("pt-BR", "Página não encontrada", "O endereço pode estar digitado errado"),
    ],
)
def test_not_found_page_is_the_themes_in_the_visitors_language(make_app, language, title, text):
    response = (
        make_app()
        .test_client()
        .get("/no-such-page", headers={"Accept": "text/html", "Accept-Language": language})
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert f"<h1>{title}</h1>" in page and text in page
    assert "/themes/default/static/premia.css" in page and 'rel="icon"' in page
    assert "Not Found" not in page and "requested URL" not in page  # not Werkzeug's


def test_a_merchants_error_pages_are_in_its_language(make_app, make_tenant):
    app = make_app()
    shop = make_tenant(language="pt_BR", name="Padaria Pão Quente")
    client = app.test_client()
    page = client.get(
        f"/t/{shop.slug}/panel/no-such-page",
        headers={"Accept": "text/html", "Accept-Language": "es"},
    ).get_data(as_text=True)
    assert "Página não encontrada" in page and "Padaria Pão Quente" in page
    assert f'href="/t/{shop.slug}/login"' in page
    expired = client.post(
        f"/t/{shop.slug}/login", data={"email": "a@b.example"}, headers={"Accept": "text/html"}
    )
    assert expired.status_code == 400
    assert "O formulário expirou" in expired.get_data(as_text=True)
    assert "CSRF" not in expired.get_data(as_text=True)


def test_method_not_allowed_page_keeps_allow(make_app):
    response = make_app().test_client().post("/healthz", headers={"Accept": "text/html"})
    assert response.status_code == 405 and response.mimetype == "text/html"
    assert "GET" in response.headers["Allow"]
    assert "Method Not Allowed" not in response.get_data(as_text=True)


def _failing_app(make_app):
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    def fail():
        raise RuntimeError("boom")

    def fail_in_the_database():
        from sqlalchemy import text

        from core.web.request import db

        db().execute(text("SELECT no_such_column FROM no_such_table"))

    app.add_url_rule("/fail", view_func=fail)
    app.add_url_rule("/fail-in-the-database", view_func=fail_in_the_database)
    app.add_url_rule("/api/v1/fail", view_func=fail)
    return app


@pytest.mark.parametrize(
    ("language", "title"),
    [
        ("es", "Algo salió mal"),
        ("en", "Something went wrong"),
        ("pt-BR", "Algo deu errado"),
    ],
)
def test_server_error_page_is_the_themes_in_the_visitors_language(make_app, language, title):
    client = _failing_app(make_app).test_client()
    for path in ("/fail", "/fail-in-the-database"):
        response = client.get(path, headers={"Accept": "text/html", "Accept-Language": language})
        page = response.get_data(as_text=True)
        assert response.status_code == 500 and response.mimetype == "text/html", path
        assert f"<h1>{title}</h1>" in page and "/static/premia.css" in page, path
        assert "boom" not in page and "Internal Server Error" not in page


def test_server_error_on_the_api_stays_json(make_app):
    response = _failing_app(make_app).test_client().get("/api/v1/fail")
    assert response.status_code == 500 and response.is_json
    assert response.get_json()["reason"] == "internal_server_error"


def test_favicon_is_the_themes(make_app, make_tenant):
    client = make_app().test_client()
    answer = client.get("/favicon.ico")
    assert answer.status_code == 301
    assert answer.location.endswith("/themes/default/static/favicon.svg")
    icon = client.get(answer.location)
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    assert icon.get_data(as_text=True).lstrip().startswith("<svg")
    make_tenant("marca", domain="puntos.marca.example", plan="white-label")
    on_the_brand = client.get("/favicon.ico", base_url="http://puntos.marca.example")
    assert on_the_brand.status_code == 301
    assert on_the_brand.location.endswith("/themes/default/static/favicon.svg")
    home = client.get("/").get_data(as_text=True)
    assert (
        '<link rel="icon" type="image/svg+xml" href="/themes/default/static/favicon.svg">' in home
    )


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
        [str(GUNICORN), "--bind", f"127.0.0.1:{port}", "--workers", "2", "core:create_app()"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
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

    make_tenant(
        "por-gunicorn", name="Tienda Gunicorn", domain="puntos.gunicorn.example", plan="white-label"
    )
    status, body = _get(f"{gunicorn}/t/por-gunicorn/login")
    assert status == 200 and "Tienda Gunicorn" in body.decode()
    # the brand's own domain, through the real WSGI server and the middleware
    status, body = _get(f"{gunicorn}/login", host="puntos.gunicorn.example")
    assert status == 200 and "Tienda Gunicorn" in body.decode()
    status, _ = _get(f"{gunicorn}/t/no-such-shop/login")
    assert status == 404
