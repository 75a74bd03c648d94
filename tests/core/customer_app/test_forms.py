"""CSRF on every form of the customer app: each POST form its pages show (the shared
app's and a merchant's, the core's and every plugin's, signed out and signed in), sent
without its token, is refused with the expired-form page in the person's language, and
nothing is written. The forms are found by following the pages' links (tests/core/
customer_app/pages.py), so a form added later is covered without listing it here."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import update

from core.host.actors import Actor
from core.host.db import platform_session
from core.loyalty.ledger.operations import earn
from core.loyalty.members import Customer, Membership
from core.loyalty.program import update_program
from core.loyalty.rewards import create_reward, get_reward, request_reward
from core.testing.weblogin import sign_in_customer
from tests.core.customer_app import gifts_plugin, requests_plugin
from tests.core.customer_app.pages import (
    Form,
    crawl,
    merchant_rules,
    plain_paths,
    posts,
    shared_rules,
    snapshot,
)

pytestmark = pytest.mark.premia_plugins(gifts_plugin, requests_plugin)

BASE = "http://localhost"


@pytest.fixture
def cafe(make_plan, make_tenant, platform):
    make_plan("everything", set(platform.plugins.infos))
    return make_tenant("cafe", plan="everything")


@pytest.fixture
def member(cafe, make_member, db):
    found = make_member(cafe, "ana@mail.example")
    with db(cafe) as session:
        update_program(session, {"customer_redemption_requests": True})
        reward = create_reward(session, name="Café gratis", points=100, stock=9)
        create_reward(session, name="Torta", points=200, stock=9)
        loaded = session.get(Membership, found.id)
        earn(session, loaded, points=500, actor=Actor.system())
        request_reward(session, loaded, get_reward(session, reward.id))
        session.commit()
    return found


def _forms(client, app) -> dict[str, Form]:
    starts = list(plain_paths(app, shared_rules(app)).values()) + list(
        plain_paths(app, merchant_rules(app), "cafe").values()
    )
    visits = crawl(
        client, starts, base_url=BASE, within=lambda p: p.startswith(("/app", "/t/cafe/app"))
    )
    return posts(visits, BASE)


def _refusals(client, forms: dict[str, Form], expected: Callable[[str], str]) -> dict[str, str]:
    """Each form sent with its own fields but the token (a prefixed form names it
    `<prefix>-csrf_token`); what was not refused as it
    should be, with `expected(path)` said (path → status and the start of the page)."""
    wrong = {}
    for path, form in sorted(forms.items()):
        data = {
            name: value for name, value in form.fields.items() if not name.endswith("csrf_token")
        }
        answer = client.post(path, data=data, base_url=BASE)
        text = answer.get_data(as_text=True)
        if answer.status_code != 400 or expected(path) not in text:
            wrong[path] = f"{answer.status_code} {text[:200]!r}"
    return wrong


def test_every_app_form_refuses_a_post_without_its_token(client, app, platform, cafe, member):
    # Signed out: the shared app in the browser's language, the café's pages in its own.
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    signed_out = _forms(client, app)
    assert {"/app/register", "/app/login", "/t/cafe/app/register"} <= set(signed_out)

    def visitors(path: str) -> str:
        return "El formulario caducó" if path.startswith("/t/cafe/") else "The form expired"

    before = snapshot(platform)
    assert _refusals(client, signed_out, visitors) == {}
    assert snapshot(platform) == before

    # Signed in, in the person's own language (Portuguese; the café speaks Spanish).
    with platform_session(platform.sessions) as session:
        session.execute(
            update(Customer).where(Customer.id == member.customer_id).values(language="pt_BR")
        )
        session.commit()
    sign_in_customer(client, app, member)
    signed_in = _forms(client, app)
    # The core's forms and a plugin's are among those found.
    assert {"/app/logout", "/app/profile", "/app/my-data/delete"} <= set(signed_in), sorted(
        signed_in
    )
    assert any("/rewards/" in path for path in signed_in), sorted(signed_in)
    before = snapshot(platform)
    assert _refusals(client, signed_in, lambda _path: "O formulário expirou") == {}
    assert snapshot(platform) == before
    assert client.get("/app/", base_url=BASE).status_code == 200  # not signed out either
