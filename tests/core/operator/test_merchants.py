"""Merchants in the console: the list with its figures and search, a plan change (audited),
suspension and reactivation: a suspended merchant's panel, app and API answer 403 and
nothing of its data changes."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

from sqlalchemy import select

from core.host.actors import Actor
from core.host.db import clock_at, platform_session
from core.loyalty import ledger
from core.operator.models import AuditEntry
from core.testing.weblogin import login, sign_in_customer
from plugins.api import tokens
from tenants.models import Tenant
from tests.core.operator.conftest import OPERATOR_EMAIL, text


def _audit(platform) -> list[tuple]:
    with platform_session(platform.sessions) as session:
        return [
            (e.operator_email, e.action, e.merchant_id, e.details, e.address)
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            if e.action not in ("enrol", "sign_in")
        ]


def _tenant(platform, tenant_id: int) -> Tenant:
    with platform_session(platform.sessions) as session:
        return session.get(Tenant, tenant_id)


def test_the_list_shows_each_merchants_figures_and_searches(
    console, make_tenant, make_member, db, platform
):
    cafe = make_tenant(slug="cafe-luna", name="Café Luna")
    make_tenant(slug="bar-sol", name="Bar Sol", domain="puntos.barsol.example")
    ana, eva = make_member(cafe), make_member(cafe)
    with clock_at(datetime(2026, 11, 20, 15, tzinfo=UTC)), db(cafe) as session:
        ledger.earn(session, session.merge(ana), points=120, actor=Actor.system())
        ledger.earn(session, session.merge(eva), points=30, actor=Actor.system())
        platform.plugins.switch(session, session.merge(cafe), "referrals", False)
        session.commit()
    page = text(console.get("/operator/merchants"))
    assert "Café Luna" in page and "Bar Sol" in page
    row = page.split("Café Luna")[1].split("</tr>")[0]
    assert '<td class="number">2</td>' in row  # members
    assert '<td class="number">150</td>' in row  # points in circulation
    # Plugins on, and those the merchant switched off; the last activity (its last entry).
    on, off = re.search(r"<td><small>(.*?)<br>apagados: (.*?)</small></td>", row).groups()
    assert "nps" in on.split(", ") and "referrals" not in on.split(", ")
    assert off == "referrals"
    assert "20/11/26" in row
    bar = page.split("Bar Sol")[1].split("</tr>")[0]
    assert "<td>—</td>" in bar and "apagados" not in bar
    only = text(console.get("/operator/merchants?q=barsol"))
    assert "Bar Sol" in only and "Café Luna" not in only
    assert "Café Luna" in text(console.get("/operator/merchants?q=LUNA"))


def test_a_plan_change_is_audited_and_takes_effect(console, make_tenant, platform, db):
    shop = make_tenant()
    answer = console.post(
        f"/operator/merchants/{shop.id}/plan", {"plan": "white-label"}, page="/operator/merchants"
    )
    assert answer.status_code == 302
    assert _tenant(platform, shop.id).plan.code == "white-label"
    with platform_session(platform.sessions) as session:
        assert "api" in platform.plugins.active(session, session.get(Tenant, shop.id))
    assert _audit(platform) == [
        (
            OPERATOR_EMAIL,
            "plan_change",
            shop.id,
            {"before": "free", "after": "white-label"},
            "127.0.0.1",
        )
    ]
    audit_page = text(console.get("/operator/audit"))
    assert "Cambió el plan de un comercio" in audit_page and shop.name in audit_page


def test_an_unknown_plan_changes_nothing(console, make_tenant, platform):
    shop = make_tenant()
    answer = console.post(f"/operator/merchants/{shop.id}/plan", {"plan": "gold"})
    assert answer.status_code == 302
    assert _tenant(platform, shop.id).plan.code == "free"
    assert _audit(platform) == []
    page = text(console.client.get(answer.headers["Location"]))
    assert "Plan desconocido." in page


def test_unknown_merchant_ids_answer_404_and_change_nothing(console, platform):
    for path in ("/operator/merchants/999999", "/operator/exports/999999"):
        assert console.get(path).status_code == 404
    for path in ("plan", "suspend", "reactivate", "exports"):
        answer = console.post(f"/operator/merchants/999999/{path}", {"plan": "free"})
        assert answer.status_code == 404
    assert _audit(platform) == []


def _snapshot(platform, tenant_id: int) -> str:
    """Every row of the merchant's tables (but its sessions), as a digest."""
    from core.operator.exports import tables

    digest = hashlib.sha256()
    with platform.engine.connect() as conn:
        for _name, model in tables():
            table = model.__table__
            rows = conn.execute(select(table).where(table.c.tenant_id == tenant_id)).all()
            digest.update(repr(sorted(map(repr, rows))).encode())
    return digest.hexdigest()


def test_a_suspended_merchant_answers_403_everywhere_and_nothing_changes(
    app, console, make_tenant, make_member, db, platform
):
    shop = make_tenant(plan="white-label")
    member = make_member(shop)
    with db(shop) as session:
        _row, secret = tokens.create_token(session, name="Caja", scopes=["all"])
        session.commit()
    staff = app.test_client()
    login(staff, db, shop)
    customer = app.test_client()
    sign_in_customer(customer, app, member)
    api = {"Authorization": f"Bearer {secret}"}
    assert staff.get(f"/t/{shop.slug}/panel/customers/").status_code == 200
    assert app.test_client().get("/api/v1/program", headers=api).status_code == 200

    assert console.post(f"/operator/merchants/{shop.id}/suspend").status_code == 302
    before = _snapshot(platform, shop.id)
    panel = staff.get(f"/t/{shop.slug}/panel/customers/")
    assert panel.status_code == 403
    assert "Programa suspendido" in text(panel)
    grant = staff.post(f"/t/{shop.slug}/panel/loyalty/", data={"code": member.code})
    assert grant.status_code == 403
    assert customer.get(f"/t/{shop.slug}/app/").status_code == 403
    assert app.test_client().get(f"/t/{shop.slug}/login").status_code == 403
    refused = app.test_client().post(
        f"/api/v1/customers/{member.code}/points", headers=api, json={"points": 10}
    )
    assert refused.status_code == 403
    assert refused.get_json()["reason"] == "merchant_suspended"
    assert refused.get_json()["message"]
    assert app.test_client().get("/api/v1/program", headers=api).status_code == 403
    assert _snapshot(platform, shop.id) == before  # no row written, not even last use

    assert console.post(f"/operator/merchants/{shop.id}/reactivate").status_code == 302
    assert staff.get(f"/t/{shop.slug}/panel/customers/").status_code == 200
    assert app.test_client().get("/api/v1/program", headers=api).status_code == 200
    assert [a[1] for a in _audit(platform)] == ["suspend", "reactivate"]


def test_a_suspended_brand_domain_answers_403(app, console, make_tenant):
    shop = make_tenant(slug="marca", plan="white-label", domain="puntos.marca.example")
    console.post(f"/operator/merchants/{shop.id}/suspend")
    answer = app.test_client().get("/app/", headers={"Host": "puntos.marca.example"})
    assert answer.status_code == 403


def test_suspending_twice_is_refused_and_audited_once(console, make_tenant, platform):
    shop = make_tenant()
    console.post(f"/operator/merchants/{shop.id}/suspend")
    answer = console.post(f"/operator/merchants/{shop.id}/suspend")
    page = text(console.client.get(answer.headers["Location"]))
    assert "Este comercio ya está suspendido." in page
    assert [a[1] for a in _audit(platform)] == ["suspend"]
