"""Announcements after commit: only hooks that exist, only declared notification topics."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from core.host import events, hookspecs
from core.host.actors import Actor
from core.host.db import tenant_session
from core.host.topics import TopicError
from core.loyalty import ledger
from core.loyalty.customers import create_member
from tests.core import recorder_plugin

pytestmark = pytest.mark.premia_plugins(recorder_plugin)

ROOT = Path(__file__).resolve().parents[2]
STAFF = Actor.staff(1)
HOOKS = {name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "premia_spec")}


@pytest.fixture
def shop(make_plan, make_tenant):
    make_plan("with-recorder", {"recorder"})
    return make_tenant(plan="with-recorder")


def test_events_names_only_hooks_that_exist():
    source = (ROOT / "core" / "host" / "events.py").read_text()
    named = set(re.findall(r'announce\(\s*session,\s*"(\w+)"', source))
    named |= set(re.findall(r'hook == "(\w+)"', source))
    assert "entry_recorded" in named
    assert named - HOOKS == set()
    assert set() == events.START_UP_HOOKS - HOOKS


def test_every_announcement_in_the_tree_names_a_hook():
    sources = [
        p
        for folder in ("core", "plugins", "worker", "tenants")
        for p in (ROOT / folder).rglob("*.py")
    ]
    announced = {
        name
        for path in sources
        for name in re.findall(r'announce\(\s*session,\s*"(\w+)"', path.read_text())
    }
    assert {"entry_recorded", "member_created", "notify"} <= announced
    assert announced - HOOKS == set()


@pytest.mark.parametrize("hook", ["points_recorded", "blueprints"])
def test_announcing_what_is_no_announcing_hook_fails(hook, shop, db):
    with db(shop) as session:
        member = create_member(session, email="ines@mail.example", actor=STAFF)
        with pytest.raises(ValueError, match=hook):
            events.announce(session, hook, member=member)


def test_notify_delivers_a_declared_topic(shop, db, recorder):
    with db(shop) as session:
        member = create_member(session, email="ines@mail.example", actor=STAFF)
        events.notify(
            session,
            member,
            "points_expiring",
            {"points": 5, "expires_at": "2026-03-31T23:59:00-05:00", "period": "2026-03"},
        )
        session.commit()
    assert recorder.hooks("notify") == [
        (
            shop.slug,
            (
                "points_expiring",
                member.id,
                {"points": 5, "expires_at": "2026-03-31T23:59:00-05:00", "period": "2026-03"},
            ),
        )
    ]


@pytest.mark.parametrize(
    ("topic", "context"),
    [("birthday", {}), ("points_expiring", {"points": 5})],
    ids=["undeclared-topic", "context-that-does-not-fit"],
)
def test_notify_out_of_the_registry_fails_loudly_in_tests(topic, context, shop, db, recorder):
    with db(shop) as session:
        member = create_member(session, email="ines@mail.example", actor=STAFF)
        with pytest.raises(TopicError):
            events.announce(session, "notify", member=member, topic=topic, context=context)


def test_in_production_a_bad_notification_is_logged_and_the_sale_stands(
    make_app, make_plan, make_tenant, recorder, caplog
):
    make_plan("with-recorder", {"recorder"})
    tenant = make_tenant(plan="with-recorder")
    application = make_app(PREMIA_EXTRA_PLUGINS=[recorder_plugin])
    application.testing = False
    caplog.set_level(logging.ERROR, logger="core.host.events")
    with application.app_context():
        sessions = application.extensions["premia"].sessions
        with tenant_session(sessions, tenant.id) as session:
            member = create_member(session, email="ines@mail.example", actor=STAFF)
            ledger.earn(session, member, points=9, actor=STAFF)
            events.notify(session, member, "birthday", {"age": 30})
            session.commit()
        with tenant_session(sessions, tenant.id) as session:
            assert ledger.audit_member(session, member.id) == (9, 9, 9)
    assert [hook for hook, _slug, _detail in recorder.calls] == ["member_created", "entry_recorded"]
    assert [r.getMessage() for r in caplog.records if r.name == "core.host.events"] == [
        "notification dropped"
    ]


def test_a_session_expired_after_an_announcement_still_announces(shop, db, recorder):
    """A bulk service expires the session after announcing (its SQL wrote behind the
    ORM's back): the listeners still get a readable tenant after the commit."""
    with db(shop) as session:
        member = create_member(session, email="ana@example.com", first_name="Ana", actor=STAFF)
        member_id = member.id
        session.expire_all()
        session.commit()
    assert recorder.calls == [("member_created", shop.slug, member_id)]
