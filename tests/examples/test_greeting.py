"""examples/premia-greeting, an external plugin installed with pip (make install): Premia
loads it by its entry point, its hook fires for the merchants whose plan has it, and its
page is not there for the others. (Its migration: tests/test_migrations.py.)"""

from __future__ import annotations

from premia_greeting.models import Greeting
from sqlalchemy import select

from core.testing.weblogin import login


def _greeted(db, tenant) -> list[int]:
    with db(tenant) as session:
        return list(session.scalars(select(Greeting.member_id)))


def test_it_is_installed_by_its_entry_point(platform):
    info = platform.plugins.infos["greeting"]
    assert info.package_path.name == "premia_greeting"
    assert info.migrations_path is not None and info.templates_path is not None


def test_a_new_member_is_greeted_where_the_plan_has_it(make_plan, make_tenant, make_member, db):
    make_plan("with-greeting", {"greeting"})
    shop = make_tenant(plan="with-greeting")
    other = make_tenant()  # the free plan: without the plugin
    member = make_member(shop)
    make_member(other)
    assert _greeted(db, shop) == [member.id]  # member_created → its job, once
    assert _greeted(db, other) == []


def test_its_page_lists_the_greeted_and_is_404_without_the_plan(
    make_plan, make_tenant, make_member, client, db
):
    make_plan("with-greeting", {"greeting"})
    shop = make_tenant(plan="with-greeting")
    other = make_tenant()
    member = make_member(shop)
    login(client, db, shop)
    page = client.get(f"/t/{shop.slug}/panel/greeting/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "<h1>Saludos</h1>" in text and member.code in text  # its catalog, in Spanish
    login(client, db, other)
    assert client.get(f"/t/{other.slug}/panel/greeting/").status_code == 404
