"""The customer app's profile: the person's changes reach every merchant's record, a
merchant's own edits stay until the person changes that field, bad input is refused
whole, the language switches the pages, the e-mail topics are honoured."""

from __future__ import annotations

import html
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from core.host.actors import Actor
from core.host.db import platform_session
from core.loyalty import ledger
from core.loyalty.members import Customer, Membership
from core.testing.weblogin import sign_in_customer, token
from plugins.birthday import grants
from plugins.notifications.models import Delivery

FORM = {
    "first_name": "",
    "last_name": "",
    "phone": "",
    "birthday": "",
    "language": "",
    "mail_points": "y",
    "mail_redemptions": "y",
    "mail_expiry": "y",
    "mail_news": "y",
    # The push notifications' choices, ticked as the page shows them by default.
    "push_points": "y",
    "push_redemptions": "y",
    "push_expiry": "y",
    "push_news": "y",
}


def save(client, changes: dict[str, str], url: str = "/app/profile"):
    data = {**FORM, **changes, "csrf_token": token(client, url)}
    return client.post(url, data={k: v for k, v in data.items() if v is not None})


def account(platform, customer_id: int) -> Customer:
    with platform_session(platform.sessions) as session:
        customer = session.get(Customer, customer_id)
        session.expunge(customer)
        return customer


def records(platform, customer_id: int) -> dict[str, tuple]:
    """Each merchant's record of the person: slug -> (first, last, phone, birthday, search)."""
    from tenants.models import Tenant

    with platform_session(platform.sessions) as session:
        rows = session.execute(
            select(Tenant.slug, Membership)
            .join(Tenant, Tenant.id == Membership.tenant_id)
            .where(Membership.customer_id == customer_id)
        ).all()
        return {
            slug: (m.first_name, m.last_name, m.phone, m.birthday, m.search_text)
            for slug, m in rows
        }


@pytest.fixture
def ana(make_tenant, make_member):
    cafe, bakery = make_tenant(slug="cafe"), make_tenant(slug="panaderia")
    in_cafe = make_member(cafe, "ana@mail.example", first_name="Anita", last_name="Ruiz")
    make_member(bakery, "ana@mail.example", first_name="Ana", last_name="R.", phone="111111")
    return in_cafe


def test_the_profile_opens_on_the_shared_app_and_on_a_merchants_pages(client, app, ana):
    sign_in_customer(client, app, ana)
    for url in ("/app/profile", "/t/cafe/app/profile"):
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert 'name="first_name"' in answer.get_data(as_text=True)


def test_a_visitor_is_sent_to_sign_in(client, ana):
    answer = client.get("/app/profile")
    assert answer.status_code == 302 and "/app/login" in answer.headers["Location"]


def test_what_the_person_changes_reaches_every_merchant(client, app, platform, ana):
    sign_in_customer(client, app, ana)
    answer = save(
        client,
        {"first_name": "Ana María", "phone": "+57 300 123 4567", "birthday": "1990-05-17"},
    )
    assert answer.status_code == 302
    mine = account(platform, ana.customer_id)
    assert (mine.first_name, mine.phone, mine.birthday) == (
        "Ana María",
        "+57 300 123 4567",
        date(1990, 5, 17),
    )
    found = records(platform, ana.customer_id)
    assert {slug: row[:4] for slug, row in found.items()} == {
        # the last name was not changed by the person: each merchant keeps its own
        "cafe": ("Ana María", "Ruiz", "+57 300 123 4567", date(1990, 5, 17)),
        "panaderia": ("Ana María", "R.", "+57 300 123 4567", date(1990, 5, 17)),
    }
    assert all("ana maria" in row[4] for row in found.values())  # the panel's search


def test_a_merchants_edit_stays_until_the_person_changes_that_field(client, app, platform, db, ana):
    sign_in_customer(client, app, ana)
    save(client, {"phone": "3001112233", "first_name": "Ana"})
    with db(ana.tenant_id) as session:  # the café corrects its own record
        member = session.get(Membership, ana.id)
        member.phone = "6015550000"
        session.commit()
    # the person saves another field: the café's phone is left alone
    save(client, {"phone": "3001112233", "first_name": "Ana", "last_name": "Ruiz Gómez"})
    found = records(platform, ana.customer_id)
    assert found["cafe"][:3] == ("Ana", "Ruiz Gómez", "6015550000")
    assert found["panaderia"][:3] == ("Ana", "Ruiz Gómez", "3001112233")
    # the person changes the phone itself: it reaches every merchant again
    save(client, {"phone": "3009998877", "first_name": "Ana", "last_name": "Ruiz Gómez"})
    found = records(platform, ana.customer_id)
    assert found["cafe"][2] == found["panaderia"][2] == "3009998877"


def test_clearing_a_field_clears_it_everywhere(client, app, platform, ana):
    sign_in_customer(client, app, ana)
    save(client, {"phone": "3001112233"})
    save(client, {"phone": ""})
    assert account(platform, ana.customer_id).phone is None
    assert [row[2] for row in records(platform, ana.customer_id).values()] == [None, None]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"birthday": (date.today() + timedelta(days=1)).isoformat()},
            "no puede estar en el futuro",
        ),
        ({"birthday": "1850-01-01"}, "Revisa el año"),
        ({"birthday": "17/05/1990x"}, "birthday-error"),
        ({"phone": "3" * 41}, "demasiado largo"),
        ({"phone": "llámame"}, "con dígitos"),
        ({"first_name": "A" * 121}, "first_name-error"),
        ({"language": "xx"}, "field-error"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(client, app, platform, ana, changes, message):
    sign_in_customer(client, app, ana)
    before_account = account(platform, ana.customer_id)
    before = records(platform, ana.customer_id)
    answer = save(client, {"first_name": "Otra", "phone": "3001112233", **changes})
    assert answer.status_code == 422
    page = html.unescape(answer.get_data(as_text=True))
    assert message in page
    assert 'class="field-error"' in page
    assert records(platform, ana.customer_id) == before
    after_account = account(platform, ana.customer_id)
    assert (after_account.first_name, after_account.phone, after_account.language) == (
        before_account.first_name,
        before_account.phone,
        before_account.language,
    )


def test_the_language_switches_the_pages(client, app, platform, ana):
    sign_in_customer(client, app, ana)
    assert "Mi perfil" in client.get("/app/profile").get_data(as_text=True)
    save(client, {"language": "en"})
    assert account(platform, ana.customer_id).language == "en"
    page = client.get("/t/cafe/app/profile").get_data(as_text=True)
    assert '<html lang="en">' in page and "My profile" in page
    save(client, {"language": "pt_BR"})
    page = client.get("/app/profile").get_data(as_text=True)
    assert '<html lang="pt-BR">' in page and "Meu perfil" in page


def test_the_birthday_reaches_the_birthday_plugin(client, app, db, ana):
    sign_in_customer(client, app, ana)
    save(client, {"birthday": "1990-05-17"})
    with db(ana.tenant_id) as session:
        assert grants.grant_birthdays(session, date(2026, 5, 17), 100) == 1
        session.commit()
        assert session.get(Membership, ana.id).balance == 100


def test_the_mail_topics_the_person_refuses_are_not_sent(
    client, app, platform, db, make_tenant, make_member, smtp_server
):
    shop = make_tenant(slug="tienda")
    ana = make_member(shop, "ana@mail.example")
    eva = make_member(shop, "eva@mail.example")
    assert len(smtp_server.handler.wait_for(2)) == 2  # the welcome e-mails
    sign_in_customer(client, app, ana)
    save(client, {"mail_points": None, "mail_news": None})
    assert account(platform, ana.customer_id).mail_preferences == {
        "points": False,
        "news": False,
    }
    page = client.get("/app/profile").get_data(as_text=True)
    assert 'name="mail_points" value="y">' in page  # shown unticked
    assert 'name="mail_redemptions" value="y" checked>' in page
    with db(shop) as session:
        for member in (ana, eva):
            ledger.earn(
                session, session.get(Membership, member.id), points=50, actor=Actor.staff(1)
            )
        session.commit()
    messages = smtp_server.handler.wait_for(3)
    assert [m["To"] for m in messages[2:]] == ["eva@mail.example"]
    with db(shop) as session:
        sent = session.scalars(select(Delivery.recipient).where(Delivery.template != "welcome"))
        assert list(sent) == ["eva@mail.example"]
    # what the person still wants arrives: a confirmed redemption
    from core.loyalty import rewards

    with db(shop) as session:
        reward = rewards.create_reward(session, name="Café", points=10)
        member = session.get(Membership, ana.id)
        redemption = rewards.redeem_reward(session, member, reward, actor=Actor.staff(1))
        session.commit()
    assert redemption.status == rewards.Status.CONFIRMED  # a staff redemption is done at once
    last = smtp_server.handler.wait_for(4)[-1]
    assert last["To"] == "ana@mail.example"
