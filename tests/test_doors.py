"""Every door gives points by the same rules: the panel (the cashier's phone view) and
the POS API make the same grant for the same request and honour each program rule
alike. A white-label café giving 1 point per 1.000 COP; Ana is served at the panel,
Beto through the API, each a new member, so what one door writes can be compared with
what the other writes."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from sqlalchemy import select

from core.loyalty.ledger import Entry
from core.loyalty.members import Membership
from core.loyalty.program import update_program
from core.loyalty.purchases import Purchase
from core.loyalty.staff import Role
from core.testing.weblogin import csrf_token, login

CASHBACK = {"programs": [{"name": "Todo el año", "percent": "5"}], "point_value": "10"}

# Settings that switch one rule on (or off), beside the café's defaults.
PROGRAMS = {
    "default": {},
    "equivalence": {"points_per_amount": {"amount": "1000", "points": 3}},
    "description off": {"description_field": False},
    "employees give points": {"employees_give_points": True},
    "cashback": "cashback",
}

REQUESTS = {
    "amount": {"amount": "45999"},
    "amount with a note": {"amount": "45999", "description": "  F-0012 "},
    "points": {"points": 120},
    "points with a note": {"points": 120, "description": "mesa 4"},
}


@pytest.fixture
def shop(make_tenant, db, platform):
    tenant = make_tenant(slug="esquina", plan="white-label")
    with db(tenant) as session:
        update_program(session, {"points_per_amount": {"amount": "1000", "points": 1}})
        platform.plugins.switch(session, tenant, "notifications", False)
        session.commit()
    return tenant


@pytest.fixture
def token(shop, db):
    from plugins.api import tokens

    with db(shop) as session:
        _row, secret = tokens.create_token(
            session, name="Caja 1", scopes=tokens.parse_scopes("all")
        )
        session.commit()
    return secret


def set_program(db, platform, shop, program: str) -> None:
    with db(shop) as session:
        if PROGRAMS[program] == "cashback":
            platform.plugins.save_settings(session, "cashback", CASHBACK)
        else:
            update_program(session, PROGRAMS[program])
        session.commit()


def panel_give(
    client, db, shop, member, request: dict[str, Any], role: Role = Role.OWNER
) -> tuple[int, str]:
    """Give at the panel as a person with `role` would: open the customer, fill the form."""
    login(client, db, shop, role)
    url = f"/t/{shop.slug}/panel/loyalty/{member.code}"
    text = client.get(url).get_data(as_text=True)
    form = text[text.index(f'action="{url}/give"') :]
    form = form[: form.index("</form>")]
    data = {
        name: value
        for name, value in re.findall(r'name="(csrf_token|key)"[^>]*value="([^"]*)"', form)
    }
    data.update(
        {
            name: value
            for value, name in re.findall(r'value="([^"]*)"[^>]*name="(csrf_token|key)"', form)
        }
    )
    data["mode"] = "points" if "points" in request else "amount"
    data.update({name: str(value) for name, value in request.items()})
    answer = client.post(f"{url}/give", data=data)
    client.post(f"/t/{shop.slug}/logout", data={"csrf_token": data["csrf_token"]})
    return answer.status_code, html.unescape(answer.get_data(as_text=True))


def panel_page(client, db, shop, member, role: Role) -> str:
    """The customer's page at the panel as a person with `role` sees it."""
    login(client, db, shop, role)
    text = client.get(f"/t/{shop.slug}/panel/loyalty/{member.code}").get_data(as_text=True)
    client.post(f"/t/{shop.slug}/logout", data={"csrf_token": csrf_token(text)})
    return html.unescape(text)


def api_give(client, token, member, request: dict[str, Any]) -> tuple[int, Any]:
    answer = client.post(
        f"/api/v1/customers/{member.code}/points",
        json=request,
        headers={"Authorization": f"Bearer {token}"},
    )
    return answer.status_code, answer.get_json()


def written(db, shop, member) -> dict[str, Any]:
    """What a grant wrote for a member, every field a door may set, who wrote it aside."""
    with db(shop) as session:
        entries = session.scalars(
            select(Entry).where(Entry.member_id == member.id).order_by(Entry.id)
        )
        purchases = session.scalars(select(Purchase).where(Purchase.member_id == member.id))
        return {
            "entries": [
                (e.kind, e.points, e.description, e.reference, e.label, e.purchase_id is not None)
                for e in entries
            ],
            "purchases": [(p.amount, p.points, p.description, p.reference) for p in purchases],
            "balance": session.get(Membership, member.id).balance,
        }


@pytest.mark.parametrize("request_name", REQUESTS)
@pytest.mark.parametrize("program", PROGRAMS)
def test_the_same_grant_writes_the_same_entries_through_the_panel_and_the_api(
    client, shop, token, make_member, db, platform, program, request_name
):
    set_program(db, platform, shop, program)
    ana, beto = make_member(shop, first_name="Ana"), make_member(shop, first_name="Beto")
    request = REQUESTS[request_name]
    status, text = panel_give(client, db, shop, ana, request)
    assert status == 302, text
    status, body = api_give(client, token, beto, request)
    assert status == 201, body
    at_panel, at_api = written(db, shop, ana), written(db, shop, beto)
    assert at_panel == at_api
    assert at_panel["balance"] > 0


def test_each_rule_is_honoured_alike_at_both_doors(client, shop, token, make_member, db, platform):
    def both(request: dict[str, Any], role: Role = Role.OWNER) -> tuple[Any, Any]:
        ana, beto = make_member(shop), make_member(shop)
        panel_give(client, db, shop, ana, request, role)
        api_give(client, token, beto, request)
        return written(db, shop, ana), written(db, shop, beto)

    # The equivalence: 3 points per 1.000 COP, rounded down, at both doors.
    set_program(db, platform, shop, "equivalence")
    at_panel, at_api = both({"amount": "45999"})
    assert at_panel["entries"] == at_api["entries"] == [("earn", 137, None, None, None, True)]

    # The description field off: a note sent is not kept, by amount or as points.
    set_program(db, platform, shop, "description off")
    for request in ({"amount": "2000", "description": "F-1"}, {"points": 5, "description": "F-1"}):
        at_panel, at_api = both(request)
        assert at_panel == at_api
        assert [entry[2] for entry in at_panel["entries"]] == [None]
        assert [purchase[2] for purchase in at_panel["purchases"]] in ([], [None])
    # ... and on again, it is kept at both.
    update = {"description_field": True}
    with db(shop) as session:
        update_program(session, update)
        session.commit()
    at_panel, at_api = both({"points": 5, "description": "F-2"})
    assert at_panel == at_api and at_panel["entries"][0][2] == "F-2"

    # A plugin's rule: 5% back as points worth 10 COP each, beside the equivalence.
    set_program(db, platform, shop, "cashback")
    at_panel, at_api = both({"amount": "45999"})
    assert at_panel == at_api
    assert [(kind, points) for kind, points, *_rest in at_panel["entries"]] == [
        ("earn", 137),
        ("cashback", 229),
    ]


def test_employees_give_plain_points_only_when_the_program_lets_them(
    client, shop, token, make_member, db, platform
):
    ana, beto = make_member(shop), make_member(shop)
    # By default an employee gives by purchase amount: the panel says so, and refuses
    # points sent anyway (a page opened before the setting changed, say).
    text = panel_page(client, db, shop, ana, Role.EMPLOYEE)
    assert "En este programa los empleados dan puntos por el monto de la compra." in text
    assert 'value="points"' not in text
    status, text = panel_give(client, db, shop, ana, {"points": 50}, Role.EMPLOYEE)
    assert status == 422
    assert "En este programa los empleados dan puntos por el monto de la compra." in text
    assert written(db, shop, ana)["balance"] == 0
    # A POS token is not bound by it: its scope is what a manager allowed the till.
    assert api_give(client, token, beto, {"points": 50})[0] == 201

    set_program(db, platform, shop, "employees give points")
    text = panel_page(client, db, shop, ana, Role.EMPLOYEE)
    assert "Los empleados pueden dar puntos por el monto de la compra o directamente." in text
    assert 'value="points"' in text
    status, text = panel_give(client, db, shop, ana, {"points": 50}, Role.EMPLOYEE)
    assert status == 302, text
    assert written(db, shop, ana)["entries"] == written(db, shop, beto)["entries"]
