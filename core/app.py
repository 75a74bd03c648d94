"""The application factory: `create_app()` builds one independent platform."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, send_from_directory
from flask_wtf import CSRFProtect
from redis import Redis
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from core import panel
from core.customer_app import faces as app_faces
from core.customer_app import menu as app_menu
from core.customer_app import routes as customer_app
from core.customer_app import sessions as customer_sessions
from core.host import models, schedule  # noqa: F401
from core.host.config import load_config
from core.host.db import make_engine, make_sessionmaker
from core.host.errors import PremiaError
from core.host.platform import Platform
from core.host.plugins import ALWAYS_ACTIVE, PluginHost
from core.host.replica import make_replica
from core.loyalty.ledger import kind_label
from core.operator import console as operator_console
from core.panel import access as panel_access
from core.panel import menu as panel_menu
from core.web import account_pages, auth, brand, themes, uploads
from core.web.auth import init_auth
from core.web.i18n import init_babel
from core.web.request import bp as platform_bp
from core.web.request import (
    close_db,
    handle_http_error,
    handle_premia_error,
    handle_too_large,
    reading_notice,
)
from core.web.security import init_security
from tenants import domains
from tenants.resolver import DomainMiddleware, brand_url, make_site
from worker.runners import InProcessRunner, RqRunner

ROOT = Path(__file__).resolve().parent.parent


class PremiaFlask(Flask):
    jinja_environment = themes.ThemedEnvironment

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._known_sync: set[Any] = set()

    def ensure_sync(self, func: Callable) -> Callable:
        # Flask asks this of every before/after-request and teardown function at every
        # request (23 an earn, each an `inspect.iscoroutinefunction`: 4 % of its CPU);
        # a function found plain once is plain for good.
        try:
            if func in self._known_sync:
                return func
        except TypeError:  # unhashable: asked every time, as Flask does
            return super().ensure_sync(func)
        synced = super().ensure_sync(func)
        if synced is func and len(self._known_sync) < 4096:
            self._known_sync.add(func)
        return synced

    def url_for(self, /, endpoint: str, **values: Any) -> str:  # type: ignore[override]
        # On a brand's own domain its pages show at the root, never under /t/<slug>/.
        return brand_url(super().url_for(endpoint, **values))


def create_app(config: dict[str, Any] | None = None) -> Flask:
    instance = Path(os.environ.get("PREMIA_INSTANCE_PATH") or Path.cwd() / "instance")
    app = PremiaFlask("core", instance_path=str(instance.resolve()))
    app.config.update(load_config(instance))
    app.config.update(config or {})
    app.config["MAX_CONTENT_LENGTH"] = app.config["PREMIA_MAX_REQUEST_BYTES"]

    plugins = PluginHost()
    plugins.core_limits = (domains.LIMIT,)
    plugins.pm.register(schedule, name=next(iter(ALWAYS_ACTIVE)))
    plugins.load_entry_points(app.config.get("PREMIA_PLUGINS"))
    for extra in app.config.get("PREMIA_EXTRA_PLUGINS", ()):  # tests register their own
        plugins.register(extra)
    plugins.check()

    engine = make_engine(app.config["PREMIA_DATABASE_URL"])
    redis_url = app.config["PREMIA_REDIS_URL"]
    redis = Redis.from_url(redis_url) if redis_url else None
    sessions = make_sessionmaker(engine, raise_after_commit=app.testing, redis=redis)
    jobs = RqRunner(redis) if redis else InProcessRunner(raise_errors=app.testing)
    jobs.periodic = plugins.periodic_jobs()
    app.extensions["premia"] = Platform(
        engine, sessions, plugins, jobs, redis, replica=make_replica(app.config)
    )

    translation_dirs = [str(ROOT / "core" / "translations")] + [
        str(info.package_path / "translations")
        for info in plugins.infos.values()
        if info.package_path and (info.package_path / "translations").is_dir()
    ]
    init_babel(app, translation_dirs)
    CSRFProtect(app)
    init_security(app)
    init_auth(app)
    app.jinja_loader = themes.ThemeLoader(
        [info.templates_path for info in plugins.infos.values() if info.templates_path]
    )
    app.jinja_env.globals["entry_kind_label"] = kind_label
    app.jinja_env.globals["panel_menu"] = panel_menu.items
    app.jinja_env.globals["can"] = panel_access.can
    app.jinja_env.globals["panel_landing"] = panel_access.current_landing
    app.jinja_env.globals["theme_colors"] = lambda: brand.look().colors
    app.jinja_env.globals["brand_look"] = brand.look
    app.jinja_env.globals["app_url"] = app_faces.app_url
    app.jinja_env.globals["is_brand"] = app_faces.is_brand
    app.jinja_env.globals["app_menu"] = app_menu.items
    app.jinja_env.globals["current_customer"] = customer_sessions.current_customer
    app.jinja_env.globals["reading_notice"] = reading_notice

    site = make_site()
    site.before_request(auth.note_seen)
    site.register_blueprint(auth.bp)
    site.register_blueprint(account_pages.password)
    site.register_blueprint(uploads.make_blueprint())
    for blueprint in panel.blueprints():
        site.register_blueprint(blueprint)
    customer_app.register(app, site)
    for _owner, blueprint in plugins.blueprints():
        site.register_blueprint(blueprint)
    app.register_blueprint(platform_bp)
    app.register_blueprint(account_pages.signup)
    app.register_blueprint(account_pages.home)
    app.register_blueprint(site)
    app.register_blueprint(operator_console.make_blueprint())  # platform hosts only

    @app.get("/themes/<theme>/static/<path:filename>")
    def theme_static(theme: str, filename: str) -> Any:
        for name in themes.chain(theme):
            folder = themes.THEMES_ROOT / name / "static"
            if (folder / filename).is_file():
                return send_from_directory(folder, filename, max_age=3600)
        return send_from_directory(themes.THEMES_ROOT / "default" / "static", filename)

    if isinstance(jobs, InProcessRunner) and not app.testing:
        # Embedded, no worker runs the periodic jobs: the serving process does,
        # from its first request on (not in CLI commands that merely build the app).
        app.before_request(lambda: jobs.start_scheduler(app) and None)
    app.teardown_appcontext(close_db)
    app.register_error_handler(PremiaError, handle_premia_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(RequestEntityTooLarge, handle_too_large)
    plugins.pm.hook.startup(app=app)  # a plugin that cannot start stops the app
    app.wsgi_app = DomainMiddleware(app.wsgi_app, app)  # type: ignore[method-assign]
    if app.config["PREMIA_PROXIES"]:  # client address and host as the proxy saw them
        hops = app.config["PREMIA_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    return app
