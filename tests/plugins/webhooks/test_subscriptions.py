"""What a merchant's endpoints want is kept per process: asked again only when this
process writes an endpoint, or after the TTL (another process's change)."""

from __future__ import annotations

from sqlalchemy import event

from plugins.webhooks import signing, subscriptions
from plugins.webhooks.models import Endpoint
from tests.plugins.webhooks.conftest import url_of
from tests.plugins.webhooks.helpers import give


def _statements(platform) -> list[str]:
    seen: list[str] = []
    event.listen(platform.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_a_merchant_without_endpoints_costs_no_query_after_the_first(
    db, shop, make_member, platform
):
    member = make_member(shop)
    give(db, shop, member)
    seen = _statements(platform)
    give(db, shop, member)
    assert not [s for s in seen if "webhooks_endpoints" in s]
    assert subscriptions.wanted(shop.id) == frozenset()


def test_an_endpoint_written_here_is_seen_at_once(db, shop, make_member, make_endpoint, receiver):
    receiver.expect_request("/hooks").respond_with_data("ok")
    member = make_member(shop)
    give(db, shop, member)  # "no endpoint" is kept
    make_endpoint(shop, url_of(receiver), ["points.earned"])
    give(db, shop, member)
    assert len(receiver.log) == 1


def test_another_processs_endpoint_is_seen_after_the_ttl(
    db, shop, make_member, receiver, monkeypatch
):
    receiver.expect_request("/hooks").respond_with_data("ok")
    member = make_member(shop)
    give(db, shop, member)
    with db(shop) as session:  # written by another process: this one's cache knows nothing
        session.add(
            Endpoint(
                url=url_of(receiver),
                events=["points.earned"],
                secret=signing.new_secret(),
                enabled=True,
            )
        )
        session.commit()
    give(db, shop, member)
    assert receiver.log == []
    later = subscriptions.clock() + subscriptions.TTL + 1
    monkeypatch.setattr(subscriptions, "clock", lambda: later)
    give(db, shop, member)
    assert len(receiver.log) == 1
