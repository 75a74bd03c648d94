"""The demo merchant that `premia demo` creates for a newcomer."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from core import demo
from core.host.db import utcnow
from core.loyalty import ledger
from core.loyalty.members import Customer, Membership
from core.loyalty.rewards import Redemption, Reward, Status
from core.loyalty.staff import StaffUser
from core.testing.factories import FreshContextClient
from core.testing.weblogin import csrf_token, post_login
from tenants.models import Tenant


def _tenant(db, platform):
    from core.host.db import platform_session

    with platform_session(platform.sessions) as session:
        return session.scalar(select(Tenant).where(Tenant.slug == demo.SLUG))


def test_demo_has_a_merchant_with_history_and_sound_ledgers(app, platform, db):
    logins = demo.ensure_demo(app)
    tenant = _tenant(db, platform)
    assert (tenant.name, tenant.currency, tenant.plan.code) == (
        "Café La Esquina",
        "COP",
        "white-label",
    )
    with db(tenant) as session:
        members = list(session.scalars(select(Membership)))
        assert len(members) == 40
        assert {u.email for u in session.scalars(select(StaffUser))} == {e for _r, e, _p in logins}
        assert session.scalar(select(func.count(Reward.id))) == 4
        for member in members:
            balance, entries, lots = ledger.audit_member(session, member.id)
            assert balance == entries == lots >= 0
        welcomed = session.scalar(
            select(func.count(ledger.Entry.id)).where(
                ledger.Entry.kind == "welcome", ledger.Entry.points == 20
            )
        )
        assert welcomed == 40
        oldest = session.scalar(select(func.min(ledger.Entry.created_at)))
        assert utcnow() - oldest > timedelta(days=14)  # weeks of history, not one instant
        kinds = set(session.scalars(select(ledger.Entry.kind)))
        assert {"welcome", "earn", "redeem"} <= kinds
        # Requests from customers' apps wait in Inicio, Clientes and Fidelización, so a
        # newcomer sees how staff confirm or cancel one.
        pending = list(
            session.scalars(select(Redemption).where(Redemption.status == Status.REQUESTED))
        )
        assert len(pending) == 2 and len({r.member_id for r in pending}) == 2


def test_demo_is_created_once_and_its_logins_work(app, platform, db, make_app):
    first = demo.ensure_demo(app)
    assert demo.ensure_demo(app) == first
    tenant = _tenant(db, platform)
    with db(tenant) as session:
        assert session.scalar(select(func.count(Membership.id))) == 40
    app.test_client_class = FreshContextClient
    client = app.test_client()
    for _role, email, password in first:
        response = post_login(client, demo.SLUG, email, password)
        assert response.status_code == 302, email
        assert client.get(response.location).status_code == 200
        client.post(f"/t/{demo.SLUG}/logout", data={})
        client.delete_cookie("session")


def test_the_demo_customer_signs_in_to_the_app_and_sees_their_card(app, platform, db):
    demo.ensure_demo(app)
    app.test_client_class = FreshContextClient
    client = app.test_client()
    page = client.get(f"/t/{demo.SLUG}/app/login").get_data(as_text=True)
    answer = client.post(
        f"/t/{demo.SLUG}/app/login",
        data={
            "email": demo.CUSTOMER[1],
            "password": demo.CUSTOMER[2],
            "csrf_token": csrf_token(page),
        },
    )
    assert answer.status_code == 302
    card = client.get(f"/t/{demo.SLUG}/app/").get_data(as_text=True)
    with db(_tenant(db, platform)) as session:
        member = session.scalars(
            select(Membership).join(Membership.customer).where(Customer.email == demo.CUSTOMER[1])
        ).one()
    assert member.code in card


def test_the_demo_operator_is_created_once_and_its_password_works(app, platform):
    from core.host.db import platform_session
    from core.operator.accounts import check_password
    from core.operator.models import Operator

    assert demo.ensure_operator(app) == demo.ensure_operator(app) == demo.OPERATOR
    with platform_session(platform.sessions) as session:
        assert len(session.scalars(select(Operator)).all()) == 1
        assert check_password(session, demo.OPERATOR[1], demo.OPERATOR[2]) is not None
