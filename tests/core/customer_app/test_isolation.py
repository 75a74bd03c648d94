"""No customer reaches another's data through the app, and no merchant's app another
merchant's: every app route with an id or a code in its URL, found from the URL map
and the pages' own links and forms (so routes added later are covered), asked with
another customer's or another tenant's id answers 404 (or the sign-in), and nothing
in the database changes, whether it was a GET or a POST."""

from __future__ import annotations

import pytest
from werkzeug.routing import BuildError

from core.host.actors import Actor
from core.loyalty.ledger.operations import earn
from core.loyalty.members import Membership
from core.loyalty.program import update_program
from core.loyalty.rewards import create_reward, get_reward, request_reward
from core.testing.weblogin import csrf_token, sign_in_customer
from tests.core.customer_app import gifts_plugin, requests_plugin
from tests.core.customer_app.pages import (
    crawl,
    endpoint_of,
    id_arguments,
    merchant_rules,
    own_arguments,
    plain_paths,
    posts,
    shared_rules,
    snapshot,
)

pytestmark = pytest.mark.premia_plugins(gifts_plugin, requests_plugin)

BASE = "http://localhost"


@pytest.fixture
def shops(make_plan, make_tenant, platform):
    make_plan("everything", set(platform.plugins.infos))
    return make_tenant("cafe", plan="everything"), make_tenant("bar", plan="everything")


@pytest.fixture
def people(shops, make_member, db):
    """Ana and Eva, members of the café with points and a request each; Ana is a member
    of the bar too."""
    cafe, bar = shops
    ana, eva = make_member(cafe, "ana@mail.example"), make_member(cafe, "eva@mail.example")
    ana_at_bar = make_member(bar, "ana@mail.example")
    ids = {}
    for tenant in (cafe, bar):
        with db(tenant) as session:
            update_program(session, {"customer_redemption_requests": True})
            reward = create_reward(session, name=f"Gift of {tenant.slug}", points=100, stock=9)
            session.commit()
            ids[tenant.slug] = reward.id
    with db(cafe) as session:
        for member in (ana, eva):
            loaded = session.get(Membership, member.id)
            earn(session, loaded, points=500, actor=Actor.system())
            redemption = request_reward(session, loaded, get_reward(session, ids["cafe"]))
            ids[member.code] = redemption.id
        session.commit()
    return ana, eva, ana_at_bar, ids


def _starts(app, slug: str) -> list[str]:
    return list(plain_paths(app, shared_rules(app)).values()) + list(
        plain_paths(app, merchant_rules(app), slug).values()
    )


def _in_app(path: str) -> bool:
    return path.startswith(("/app", "/t/cafe/app", "/t/bar/app"))


def _with_ids(app, paths, method: str = "GET") -> set[str]:
    """The paths that route to an app rule with an id or a code of its own."""
    rules = {rule.endpoint: rule for rule in merchant_rules(app) + shared_rules(app)}
    found = set()
    for path in paths:
        match = endpoint_of(app, path, method)
        if match and match[0] in rules and id_arguments(rules[match[0]]):
            found.add(path)
    return found


def _refused(answer) -> bool:
    signed_out = answer.status_code == 302 and "/login" in (answer.location or "")
    return answer.status_code == 404 or signed_out


def _explore(client, app, member, slug: str):
    client.delete_cookie("member_session", domain="localhost")
    sign_in_customer(client, app, member)
    visits = crawl(client, _starts(app, slug), base_url=BASE, within=_in_app)
    assert all(visit.status < 400 for visit in visits.values()), {
        path: visit.status for path, visit in visits.items() if visit.status >= 400
    }
    return visits, posts(visits, BASE)


def _probe(client, app, platform, people) -> tuple[dict[str, int], bool]:
    """Ana asks for Eva's pages and forms, and for the café's on the bar's app: what
    was let through (path → status), and whether the database changed."""
    ana, eva, _ana_at_bar, _ids = people
    eva_pages, eva_forms = _explore(client, app, eva, "cafe")
    ana_pages, ana_forms = _explore(client, app, ana, "cafe")
    # Eva's own: what her pages link to with an id and Ana's do not (a reward of the
    # café is everyone's there; Eva's request is hers).
    hers = _with_ids(app, set(eva_pages) - set(ana_pages))
    her_forms = _with_ids(app, set(eva_forms) - set(ana_forms), "POST")
    assert hers and her_forms  # at least the test plugin's; the app's own as they come
    # Everything of the café with an id, asked on the bar's pages (Ana is a member there).
    at_the_bar = {
        path.replace("/t/cafe/", "/t/bar/", 1)
        for path in _with_ids(app, eva_pages) | _with_ids(app, ana_pages)
        if path.startswith("/t/cafe/")
    }
    bar_forms = {
        path.replace("/t/cafe/", "/t/bar/", 1)
        for path in _with_ids(app, eva_forms, "POST") | _with_ids(app, ana_forms, "POST")
        if path.startswith("/t/cafe/")
    }
    token = csrf_token(client.get("/t/cafe/app/").get_data(as_text=True))
    before = snapshot(platform)
    let_through = {}
    for path in sorted(hers | at_the_bar):
        answer = client.get(path)
        if not _refused(answer):
            let_through[f"GET {path}"] = answer.status_code
    for path in sorted(her_forms | bar_forms):
        answer = client.post(path, data={"csrf_token": token})
        if not _refused(answer):
            let_through[f"POST {path}"] = answer.status_code
    return let_through, snapshot(platform) != before


def test_another_customers_and_another_tenants_ids_answer_404(client, app, platform, people):
    let_through, changed = _probe(client, app, platform, people)
    assert let_through == {}
    assert not changed


def test_the_probe_catches_a_page_that_forgets_whose_data_it_is(
    client, app, platform, people, monkeypatch
):
    monkeypatch.setattr(requests_plugin, "leaky", True)
    _ana, eva, _ana_at_bar, ids = people
    let_through, changed = _probe(client, app, platform, people)
    assert let_through == {
        f"GET /t/cafe/app/asks/{ids[eva.code]}": 200,
        f"POST /t/cafe/app/asks/{ids[eva.code]}/cancel": 302,
    }
    assert changed  # Eva's request was cancelled by Ana
    # The bar's pages never reach the café's rows, leaky or not: the session is scoped.


def test_routes_with_ids_refuse_another_tenants_ids(client, app, platform, people):
    """Every rule with an id or a code, the pages reach it or not, asked on the bar's
    app with the café's ids and codes (Ana is signed in, a member of both)."""
    ana, eva, _ana_at_bar, ids = people
    sign_in_customer(client, app, ana)
    token = csrf_token(client.get("/t/bar/app/").get_data(as_text=True))
    # The bar's own reward is the bar's: a membership id that happens to equal its id
    # (SQLite reuses small ids) asks for a page Ana may open, not someone else's data.
    numbers = sorted({ids["cafe"], ids[eva.code], ids[ana.code], eva.id, ana.id} - {ids["bar"]})
    codes = [eva.code, ana.code]
    adapter = app.url_map.bind("localhost")
    before = snapshot(platform)
    let_through, asked = {}, 0
    for rule in merchant_rules(app):
        names = id_arguments(rule)
        if not names or names != own_arguments(rule):
            continue  # a token, a size, a file name: not an id of someone's data
        for value in numbers + codes:
            try:  # a number where the URL takes one; a code anywhere a string goes
                path = adapter.build(
                    rule.endpoint, {"tenant_slug": "bar", **dict.fromkeys(names, value)}
                )
            except (BuildError, ValueError):
                continue
            for method in sorted(rule.methods & {"GET", "POST"}):
                answer = (
                    client.get(path)
                    if method == "GET"
                    else client.post(path, data={"csrf_token": token})
                )
                asked += 1
                if not _refused(answer):
                    let_through[f"{method} {path}"] = answer.status_code
    assert asked  # the test plugin's routes at least
    assert let_through == {}
    assert snapshot(platform) == before


def test_a_visitor_sees_nobodys_data_on_a_page_with_an_id(client, app, people):
    ana, _eva, _ana_at_bar, _ids = people
    pages, _forms = _explore(client, app, ana, "cafe")
    client.delete_cookie("member_session", domain="localhost")
    with_ids = _with_ids(app, pages)
    assert with_ids
    for path in sorted(with_ids):
        answer = client.get(path)
        if answer.status_code == 200 and answer.mimetype == "text/html":
            assert ana.code not in answer.get_data(as_text=True), path
