"""Inicio: the chosen days' figures and latest movements (the charts and figures
themselves are tested with core/figures.py in tests/core/test_figures.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from core.host.actors import Actor
from core.host.db import clock_at
from core.loyalty import ledger
from core.loyalty.members import Membership
from core.loyalty.program import update_program
from core.loyalty.rewards import confirm, create_reward, request_reward
from core.loyalty.staff import Role, StaffUser
from core.testing.factories import PASSWORD
from core.testing.weblogin import post_login


@pytest.fixture
def shop(make_tenant):
    return make_tenant(timezone="America/Bogota")  # UTC−5


@pytest.fixture
def owner(client, db, shop):
    with db(shop) as session:
        email = session.scalars(select(StaffUser.email).where(StaffUser.role == Role.OWNER)).one()
    assert post_login(client, shop.slug, email, PASSWORD).status_code == 302
    return client


def latest_movements(page: str) -> list[str]:
    """The points of the "Latest movements" rows, top to bottom."""
    table = page[page.index("<h2>Últimos movimientos</h2>") :]
    return re.findall(r'<td class="num">([^<]*)</td>', table)


def movement_of(page: str, entry_id: int) -> str:
    """The Movement cell of an entry's row in "Latest movements", as read."""
    row = re.search(rf'<tr data-entry="{entry_id}"[^>]*>(.*?)</tr>', page, re.S).group(1)
    cell = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[2]
    return " ".join(re.sub(r"<[^>]+>", " ", cell).split())


def earn(db, shop, member, points: int, when: str) -> None:
    with clock_at(datetime.fromisoformat(when).replace(tzinfo=UTC)), db(shop) as session:
        ledger.earn(
            session, session.get(Membership, member.id), points=points, actor=Actor.system()
        )
        session.commit()


def test_latest_movements_are_the_chosen_days_newest_first(owner, db, shop, make_member):
    with clock_at(datetime(2026, 11, 1, tzinfo=UTC)):
        member = make_member(shop)
    # Written out of order (an import, a back-dated entry): the id is not the time.
    earn(db, shop, member, 12, "2026-11-12T15:00:00")
    earn(db, shop, member, 10, "2026-11-10T15:00:00")
    earn(db, shop, member, 9, "2026-11-10T04:30:00")  # 23:30 on the 9th in Bogotá
    earn(db, shop, member, 11, "2026-11-11T16:00:00")
    earn(db, shop, member, 13, "2026-11-11T05:30:00")  # 00:30 on the 11th
    page = owner.get(f"/t/{shop.slug}/panel/?since=2026-11-10&until=2026-11-11")
    assert page.status_code == 200
    assert latest_movements(page.get_data(as_text=True)) == ["11", "13", "10"]

    empty = owner.get(f"/t/{shop.slug}/panel/?since=2026-11-13&until=2026-11-14")
    text = empty.get_data(as_text=True)
    assert latest_movements(text) == []
    assert "Sin movimientos." in text


def test_latest_movements_are_the_tenants_own(owner, db, shop, make_tenant, make_member):
    other = make_tenant()
    mine, theirs = make_member(shop), make_member(other)
    earn(db, shop, mine, 5, "2026-11-10T15:00:00")
    earn(db, other, theirs, 500, "2026-11-10T15:00:00")
    page = owner.get(f"/t/{shop.slug}/panel/?since=2026-11-10&until=2026-11-10")
    assert latest_movements(page.get_data(as_text=True)) == ["5"]


def test_a_pending_request_is_no_done_redemption_in_latest_movements(owner, db, shop, make_member):
    member = make_member(shop)
    earn(db, shop, member, 200, "2026-11-10T15:00:00")
    with clock_at(datetime(2026, 11, 10, 16, tzinfo=UTC)), db(shop) as session:
        update_program(session, {"customer_redemption_requests": True})
        reward = create_reward(session, name="Café", points=90)
        asking = session.get(Membership, member.id)
        pending = request_reward(session, asking, reward, idempotency_key="app-1")
        done = request_reward(session, asking, reward, idempotency_key="app-2")
        session.commit()
        confirm(session, done, actor=Actor.system())
        session.commit()
        held, taken = pending.entry_id, done.entry_id
    page = owner.get(f"/t/{shop.slug}/panel/?since=2026-11-10&until=2026-11-10")
    text = page.get_data(as_text=True)
    assert movement_of(text, held) == "Canje solicitado (pendiente)"
    assert f'<tr data-entry="{held}" class="pending">' in text
    assert movement_of(text, taken) == "Canje"
