"""A brand's own domain end to end: `/` opens its app, and nothing a brand's customer
sees says "Premia": no app page (every GET page of the URL map, signed in and out,
plus the pages their links lead to), not the manifest or the service worker, and no
e-mail (every mail template, the themes' and the plugins', rendered for the brand in
each language). Another merchant's memberships of the same person never show there."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from flask import g
from jinja2 import meta
from sqlalchemy import select, update

from core.host.actors import Actor
from core.host.db import platform_session
from core.loyalty.ledger.operations import earn
from core.loyalty.members import Customer, Membership
from core.loyalty.rewards import create_reward
from core.testing.weblogin import sign_in_customer
from core.web.mail import build_message, render_mail
from core.web.themes import THEMES_ROOT
from tests.core.customer_app import gifts_plugin
from tests.core.customer_app.pages import crawl, merchant_rules, plain_paths

pytestmark = pytest.mark.premia_plugins(gifts_plugin)

BRAND = "puntos.marca.example"
BASE = f"http://{BRAND}"
LANGUAGES = ("es", "en", "pt_BR")
PLATFORM = re.compile("premia", re.I)


@pytest.fixture
def brand(make_plan, make_tenant, platform):
    # Every installed plugin active, so that their app pages are rendered too.
    make_plan("everything", set(platform.plugins.infos))
    return make_tenant("marca", name="Marca Propia", domain=BRAND, plan="everything")


@pytest.fixture
def member(brand, make_member, db):
    """A member of the brand with points and a reward to look at."""
    found = make_member(brand, "ana@mail.example")
    with db(brand) as session:
        create_reward(session, name="Café gratis", points=50, stock=3)
        earn(session, session.get(Membership, found.id), points=120, actor=Actor.system())
        session.commit()
    return found


def _brand_path(path: str) -> str:
    return path.removeprefix("/t/marca") or "/"


def _starts(app) -> list[str]:
    return [_brand_path(path) for path in plain_paths(app, merchant_rules(app), "marca").values()]


def _in_app(path: str) -> bool:
    return path.startswith(("/app", "/t/marca/app"))


def _says_platform(visits) -> dict[str, str]:
    return {
        path: PLATFORM.search(visit.text).group(0)
        for path, visit in visits.items()
        if visit.text and PLATFORM.search(visit.text)
    }


def test_the_root_of_a_brands_domain_opens_its_app(client, app, brand, member):
    answer = client.get("/", base_url=BASE)
    assert answer.status_code == 302 and answer.location == "/app/"
    assert client.get("/app/", base_url=BASE).location.startswith("/app/login")
    sign_in_customer(client, app, member, domain=BRAND)
    card = client.get("/app/", base_url=BASE)
    assert card.status_code == 200
    page = card.get_data(as_text=True)
    assert "Marca Propia" in page and member.code in page
    assert 'href="/app/"' in page  # the brand's links stay on its root, never /t/marca/


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_app_page_of_a_brand_says_premia(client, app, platform, brand, member, language):
    visits = crawl(client, _starts(app), base_url=BASE, within=_in_app)
    with platform_session(platform.sessions) as session:
        session.execute(
            update(Customer).where(Customer.id == member.customer_id).values(language=language)
        )
        session.commit()
    sign_in_customer(client, app, member, domain=BRAND)
    signed_in = crawl(client, _starts(app), base_url=BASE, within=_in_app)
    everything = {**{f"out {p}": v for p, v in visits.items()}, **signed_in}
    broken = {path: v.status for path, v in everything.items() if v.status >= 400}
    assert broken == {}
    assert _says_platform(everything) == {}
    # The enumeration covers the core's pages, the plugins', the manifest and the worker.
    assert {"/app/", "/app/gifts/", "/app/manifest.webmanifest", "/app/sw.js"} <= set(signed_in)
    assert any(path.startswith("/app/icon-") for path in signed_in)


def test_a_brands_missing_page_does_not_say_premia(client, app, brand, member):
    sign_in_customer(client, app, member, domain=BRAND)
    answer = client.get("/app/no-such-page", base_url=BASE)
    assert answer.status_code == 404
    assert not PLATFORM.search(answer.get_data(as_text=True))


def test_another_merchants_membership_never_shows_on_a_brands_domain(
    client, app, brand, member, make_tenant, make_member
):
    other = make_tenant("otra", name="Otra Tienda")
    elsewhere = make_member(other, "ana@mail.example")
    assert elsewhere.customer_id == member.customer_id  # one person, two merchants
    sign_in_customer(client, app, member, domain=BRAND)
    visits = crawl(client, _starts(app), base_url=BASE, within=_in_app)
    for path, visit in visits.items():
        assert visit.status < 400, path
        if visit.text:
            assert "Otra Tienda" not in visit.text, path
            assert elsewhere.code not in visit.text, path
            assert "/t/otra" not in visit.text, path
    # The shared app's home is not served on a brand's domain: its /app/ is the brand's.
    assert "Marca Propia" in visits["/app/"].text


def _mail_templates(app) -> list[str]:
    """Every mail: the themes' `mail/` templates and the plugins' `<plugin>/mail/` ones."""
    names = {
        f"mail/{p.name[: -len('.subject.txt')]}" for p in _subjects(THEMES_ROOT, "*/templates/mail")
    }
    for info in app.extensions["premia"].plugins.infos.values():
        if info.templates_path:
            for path in _subjects(Path(info.templates_path), "*/mail"):
                folder = path.parent.relative_to(info.templates_path).as_posix()
                names.add(f"{folder}/{path.name[: -len('.subject.txt')]}")
    return sorted(names)


def _subjects(root: Path, pattern: str) -> list[Path]:
    return [p for folder in root.glob(pattern) for p in folder.glob("*.subject.txt")]


class Sample(int):
    """A stand-in for a value a mail needs and this test does not know (an entry, a
    redemption, a tier change): a number that renders as one, whose every attribute
    is another stand-in, so a mail added later renders without editing this test."""

    def __new__(cls) -> Sample:
        return super().__new__(cls, 7)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return Sample()

    def __str__(self) -> str:
        return "7"

    def __iter__(self) -> Any:  # a list the mail goes through (a domain's problems)
        return iter((Sample(),))


def _sample(name: str, brand, member) -> Any:
    if name.endswith("url"):
        return f"https://{BRAND}/app/{name}"
    if name.endswith(("_at", "_on", "date", "until", "_since")):
        return dt.datetime(2027, 1, 1, 12, tzinfo=dt.UTC)
    known = {"member": member, "customer": member.customer, "user": member}
    return known.get(name, Sample())


def _context(app, name: str, brand, member) -> dict[str, Any]:
    env = app.jinja_env
    wanted: set[str] = set()
    for part in (".subject.txt", ".txt", ".html"):
        source = app.jinja_loader.get_source(env, name + part)[0]
        wanted |= meta.find_undeclared_variables(env.parse(source))
    wanted -= set(env.globals) | {"tenant", "g", "request", "session", "config"}
    return {key: _sample(key, brand, member) for key in wanted}


def test_no_mail_of_a_brand_says_premia(app, brand, member, db):
    names = _mail_templates(app)
    assert {"mail/invitation", "notifications/mail/welcome"} <= set(names)
    with db(brand) as session:
        loaded = session.scalar(select(Membership).where(Membership.id == member.id))
        said = {}
        for name in names:
            for language in LANGUAGES:
                with app.test_request_context(base_url=BASE):
                    g.db = session  # as in a request: one connection (SQLite locks a second)
                    context = _context(app, name, brand, loaded)
                    subject, text, html = render_mail(brand, name, language, **context)
                    message = build_message(brand, "ana@mail.example", subject, text, html)
                assert "Marca Propia" in html, name
                headers = " ".join(f"{k}: {v}" for k, v in message.items())
                parts = (("subject", subject), ("text", text), ("html", html), ("headers", headers))
                for part, body in parts:
                    if PLATFORM.search(body):
                        said[f"{name} {language} {part}"] = body
    assert said == {}


def test_a_brands_manifest_and_worker_name_the_brand(client, brand):
    manifest = client.get("/app/manifest.webmanifest", base_url=BASE).get_json()
    assert manifest["name"] == "Marca Propia" and manifest["short_name"] == "Marca Propia"
    assert manifest["start_url"] == manifest["scope"] == "/app/"
    worker = client.get("/app/sw.js", base_url=BASE)
    assert worker.headers["Service-Worker-Allowed"] == "/app/"
    assert not PLATFORM.search(worker.get_data(as_text=True))
