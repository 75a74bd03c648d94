"""Where the customer app's pages are served: `SHARED` on the platform's hosts only
(`/app/…`), `MERCHANT` under each tenant (`/t/<slug>/app/…`, `/app/…` on a brand's
domain), `BOTH` in both places.

Kept out of the package's `__init__`, so that importing one module of the app (the
sessions, say) never imports every page.
"""

from __future__ import annotations

from flask import Blueprint, Flask, redirect, request, url_for

from core.customer_app import (
    account_pages,
    card,
    data_rights,
    history,
    home,
    install,
    merchants,
    my_code,
    profile,
    rewards,
    sessions,
    social,
)

SHARED: list[Blueprint] = [home.bp, merchants.bp, my_code.bp]
MERCHANT: list[Blueprint] = [card.bp, history.bp, rewards.bp]
BOTH: list[Blueprint] = [
    account_pages.bp,
    social.bp,
    profile.bp,
    data_rights.bp,
    install.bp,
]


def _load_customer() -> None:
    # Before the view and its texts, on every app page (plugins' included): the page
    # speaks the signed-in person's language.
    if "/app/" in request.path + "/":
        sessions.current_customer()


def register(app: Flask, site: Blueprint) -> None:
    for blueprint in SHARED + BOTH:
        app.register_blueprint(blueprint)
    for blueprint in MERCHANT + BOTH:
        site.register_blueprint(blueprint)
    # A brand's domain opens on its app (`/` there is `/t/<slug>/`).
    site.add_url_rule("/", "app_root", lambda: redirect(url_for("t.app_card.home")))
    # First, ahead of the CSRF check the app registered: a form refused for its token is
    # refused in the signed-in person's language, as any other page of theirs.
    app.before_request_funcs.setdefault(None, []).insert(0, _load_customer)
    app.after_request(sessions.set_cookie)
    social.init_app(app)
