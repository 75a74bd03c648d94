"""The customer app: the pages a merchant's customers use on their phone.

Accounts are the platform's (one per person); what a merchant recorded about a
person stays on that merchant's membership (core.loyalty.members). The app has
two faces (`faces`): the shared app on the platform's hosts, and each merchant's
own pages, which on a brand's domain are the brand's whole app. Its blueprints:
`SHARED` on the platform's hosts only (`/app/…`), `MERCHANT` under each tenant
(`/t/<slug>/app/…`, `/app/…` on a brand's domain), `BOTH` in both places.
Plugins add pages with blueprints of their own under `/app/<plugin>/`, entries in
the menu (`app_menu`) and lines on the card (`card_lines`).
"""

from __future__ import annotations

from flask import Blueprint, Flask, redirect, url_for

from core.customer_app import account_pages, card, history, home, sessions

SHARED: list[Blueprint] = [home.bp]
MERCHANT: list[Blueprint] = [card.bp, history.bp]
BOTH: list[Blueprint] = [account_pages.bp]


def _load_customer() -> None:
    sessions.current_customer()


for _blueprint in SHARED + MERCHANT + BOTH:
    # Before the view and its texts: the page speaks the signed-in person's language.
    _blueprint.before_request(_load_customer)


def register(app: Flask, site: Blueprint) -> None:
    for blueprint in SHARED + BOTH:
        app.register_blueprint(blueprint)
    for blueprint in MERCHANT + BOTH:
        site.register_blueprint(blueprint)
    # A brand's domain opens on its app (`/` there is `/t/<slug>/`).
    site.add_url_rule("/", "app_root", lambda: redirect(url_for("t.app_card.home")))
    app.after_request(sessions.set_cookie)
