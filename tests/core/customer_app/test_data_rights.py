"""Download my data (JSON and CSV: all of the person's, nobody else's) and delete my
account (personal data erased everywhere, every merchant's figures unchanged)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.host.actors import Actor
from core.host.db import platform_session, utcnow
from core.loyalty import figures, ledger
from core.loyalty.customers import count_members
from core.loyalty.ledger import Entry
from core.loyalty.locations import create_location
from core.loyalty.members import Customer, Membership
from core.testing.factories import PASSWORD
from core.testing.weblogin import figures as panel_figures
from core.testing.weblogin import login, sign_in_customer, token
from core.web.passwords import hash_password

STAFF = Actor.staff(1)


def movements(db, tenant, member, *operations) -> None:
    with db(tenant) as session:
        member = session.get(Membership, member.id)
        for operation, points, extra in operations:
            getattr(ledger, operation)(session, member, points=points, actor=STAFF, **extra)
        session.commit()


@pytest.fixture
def people(platform, db, make_tenant, make_member):
    """Ana at a café and a bakery, Eva at the café, with points moving at both."""
    cafe = make_tenant(slug="cafe", name="Café Central")
    bakery = make_tenant(slug="panaderia", name="Panadería Núñez")
    with db(cafe) as session:
        centro = create_location(session, name="Sede Centro")
        session.commit()
    ana_cafe = make_member(
        cafe,
        "ana@mail.example",
        first_name="=HYPERLINK(1)",
        last_name="Ruiz",
        document_id="CC123",
        phone="3001112233",
    )
    ana_bakery = make_member(bakery, "ana@mail.example", first_name="Ana", last_name="R.")
    eva = make_member(cafe, "eva@mail.example", first_name="Eva", document_id="CC999")
    movements(
        db,
        cafe,
        ana_cafe,
        ("earn", 120, {"location_id": centro.id, "reference": "F-1", "description": "secreto"}),
        ("adjust", -20, {"description": "corrección interna"}),
    )
    movements(db, bakery, ana_bakery, ("earn", 30, {}))
    movements(db, cafe, eva, ("earn", 77, {"reference": "EVA-REF"}))
    with platform_session(platform.sessions) as session:
        account = session.get(Customer, ana_cafe.customer_id)
        account.password_hash = hash_password(PASSWORD)
        account.email_confirmed_at = utcnow()  # a confirmed account signs in
        session.commit()
    return cafe, bakery, ana_cafe, ana_bakery, eva


def entry_count(platform, member_id: int) -> int:
    with platform_session(platform.sessions) as session:
        return session.scalar(select(func.count(Entry.id)).where(Entry.member_id == member_id))


def test_the_json_download_has_every_membership_and_entry_and_only_the_persons(
    client, app, platform, people
):
    _cafe, _bakery, ana_cafe, ana_bakery, eva = people
    sign_in_customer(client, app, ana_cafe)
    answer = client.get("/app/my-data.json")
    assert answer.status_code == 200
    assert "attachment" in answer.headers["Content-Disposition"]
    assert answer.headers["Cache-Control"] == "no-store"
    text = answer.get_data(as_text=True)
    data = json.loads(text)
    assert data["account"]["email"] == "ana@mail.example"
    by_merchant = {m["merchant"]: m for m in data["memberships"]}
    assert set(by_merchant) == {"Café Central", "Panadería Núñez"}
    cafe = by_merchant["Café Central"]
    assert (cafe["code"], cafe["balance"], cafe["document"], cafe["phone"]) == (
        ana_cafe.code,
        100,
        "CC123",
        "3001112233",
    )
    assert [(e["kind"], e["points"], e["balance_after"]) for e in cafe["entries"]] == [
        ("earn", 120, 120),
        ("adjust", -20, 100),
    ]
    assert cafe["entries"][0]["location"] == "Sede Centro"
    assert cafe["entries"][0]["reference"] == "F-1"
    assert cafe["entries"][0]["date"].endswith("-05:00")  # the café's time zone
    assert len(cafe["entries"]) == entry_count(platform, ana_cafe.id)
    bakery = by_merchant["Panadería Núñez"]
    assert [e["points"] for e in bakery["entries"]] == [30]
    assert len(bakery["entries"]) == entry_count(platform, ana_bakery.id)
    # nobody else's data, nor the merchant's internal descriptions
    for foreign in ("eva@mail.example", eva.code, "CC999", "EVA-REF", "secreto", "interna"):
        assert foreign not in text, foreign
    # Eva's 77 points as a number of their own (a code or a timestamp may hold the digits)
    assert not re.search(r"\b77\b", text)


def test_the_csv_download_is_complete_and_spreadsheet_safe(client, app, platform, people):
    _cafe, _bakery, ana_cafe, ana_bakery, eva = people
    sign_in_customer(client, app, ana_cafe)
    answer = client.get("/t/cafe/app/my-data.csv")  # on a merchant's pages too
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    text = answer.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))  # Spanish: ";"
    header, body = rows[0], rows[1:]
    assert header[:5] == ["Comercio", "Código", "Fecha", "Qué", "Puntos"]
    memberships = [r for r in body if r[3] == "Membresía"]
    entries = [r for r in body if r[3] != "Membresía"]
    assert sorted((r[0], r[1], r[4]) for r in memberships) == sorted(
        [("Café Central", ana_cafe.code, "100"), ("Panadería Núñez", ana_bakery.code, "30")]
    )
    assert len(entries) == entry_count(platform, ana_cafe.id) + entry_count(platform, ana_bakery.id)
    cafe_row = next(r for r in memberships if r[0] == "Café Central")
    assert cafe_row[8] == "'=HYPERLINK(1)"  # never run as a formula
    assert "eva@mail.example" not in text and eva.code not in text and "EVA-REF" not in text


def snapshot(client, db, tenants) -> dict:
    """Every merchant's figures: the dashboard's, each day's, the members, balances and
    the sum of the ledger, and each member's audit (balance, entries, lots)."""
    found = {}
    for tenant in tenants:
        page = client.get(f"/t/{tenant.slug}/panel/").get_data(as_text=True)
        with db(tenant) as session:
            today = figures.local_today(tenant)
            days = figures.count_days(
                session, tenant, today - timedelta(days=2), today + timedelta(days=1)
            )
            members = session.scalars(select(Membership.id).order_by(Membership.id)).all()
            found[tenant.slug] = {
                "dashboard": panel_figures(page),
                "days": days,
                "members": count_members(session),
                "balances": session.scalar(select(func.sum(Membership.balance))),
                "ledger": session.scalar(select(func.sum(Entry.points))),
                "entries": session.scalar(select(func.count(Entry.id))),
                "audits": [ledger.audit_member(session, m) for m in members],
            }
        assert found[tenant.slug]["dashboard"], "no figures on the dashboard"
    return found


def delete_form(client, url: str = "/app/my-data") -> str:
    return token(client, url)


def test_deleting_the_account_erases_the_person_and_keeps_every_figure(
    client, app, platform, db, people
):
    cafe, bakery, ana_cafe, ana_bakery, eva = people
    staff = {tenant.slug: app.test_client() for tenant in (cafe, bakery)}
    for tenant in (cafe, bakery):
        login(staff[tenant.slug], db, tenant)

    def all_figures():
        return {t.slug: snapshot(staff[t.slug], db, [t])[t.slug] for t in (cafe, bakery)}

    before = all_figures()
    sign_in_customer(client, app, ana_cafe)
    client.get(f"/t/{cafe.slug}/app/")  # her card drew its live-code secret
    with platform_session(platform.sessions) as session:
        assert session.get(Membership, ana_cafe.id).live_secret
    csrf = delete_form(client)
    wrong = client.post("/app/my-data/delete", data={"csrf_token": csrf, "password": "nope"})
    assert wrong.status_code == 422
    assert "Contraseña incorrecta." in wrong.get_data(as_text=True)
    with platform_session(platform.sessions) as session:
        assert session.get(Customer, ana_cafe.customer_id).deleted_at is None

    answer = client.post("/app/my-data/delete", data={"csrf_token": csrf, "password": PASSWORD})
    assert answer.status_code == 302 and "/app/login" in answer.headers["Location"]

    assert all_figures() == before
    with platform_session(platform.sessions) as session:
        customer = session.get(Customer, ana_cafe.customer_id)
        assert customer.deleted_at is not None
        assert customer.email == f"deleted-{customer.id}@deleted.invalid"
        assert (customer.password_hash, customer.first_name, customer.phone) == (None, "", None)
        for member_id in (ana_cafe.id, ana_bakery.id):
            member = session.get(Membership, member_id)
            assert (member.first_name, member.last_name, member.document_id) == ("", "", None)
            assert (member.phone, member.birthday, member.live_secret) == (None, None, None)
            assert "ana" not in member.search_text and "ruiz" not in member.search_text
        assert session.get(Membership, ana_cafe.id).balance == 100  # the entries stay
        assert session.get(Membership, eva.id).first_name == "Eva"  # nobody else touched
        assert (
            session.scalar(
                select(func.count(Customer.id)).where(Customer.email == "ana@mail.example")
            )
            == 0
        )
    # the session ended, and the person can never sign in again
    assert client.get("/app/").status_code == 302
    again = client.post(
        "/app/login",
        data={
            "csrf_token": token(client, "/app/login"),
            "email": "ana@mail.example",
            "password": PASSWORD,
        },
    )
    assert again.status_code == 401


def test_an_account_without_password_confirms_by_typing_its_email(client, app, platform, people):
    _cafe, _bakery, _ana, _ana_bakery, eva = people  # Eva signs in socially: no password
    sign_in_customer(client, app, eva)
    page = client.get("/t/cafe/app/my-data").get_data(as_text=True)
    assert 'name="email"' in page and 'name="password"' not in page
    csrf = delete_form(client, "/t/cafe/app/my-data")
    wrong = client.post(
        "/t/cafe/app/my-data/delete", data={"csrf_token": csrf, "email": "ana@mail.example"}
    )
    assert wrong.status_code == 422
    with platform_session(platform.sessions) as session:
        assert session.get(Customer, eva.customer_id).deleted_at is None
    right = client.post(
        "/t/cafe/app/my-data/delete", data={"csrf_token": csrf, "email": " EVA@mail.example "}
    )
    assert right.status_code == 302
    with platform_session(platform.sessions) as session:
        assert session.get(Customer, eva.customer_id).deleted_at is not None


def test_a_deleted_person_gets_no_more_email(client, app, db, people, smtp_server):
    cafe, _bakery, ana_cafe, _ana_bakery, eva = people
    sign_in_customer(client, app, ana_cafe)
    client.post(
        "/app/my-data/delete",
        data={"csrf_token": delete_form(client), "password": PASSWORD},
    )
    smtp_server.handler.wait_for(6)  # the welcomes and points e-mails of the fixture
    smtp_server.handler.messages.clear()
    movements(db, cafe, ana_cafe, ("earn", 10, {}))
    movements(db, cafe, eva, ("earn", 10, {}))
    messages = smtp_server.handler.wait_for(1)
    assert [m["To"] for m in messages] == ["eva@mail.example"]


def test_another_persons_session_cannot_reach_this_download(client, app, people):
    _cafe, _bakery, ana_cafe, _ana_bakery, eva = people
    sign_in_customer(client, app, eva)
    text = client.get("/app/my-data.json").get_data(as_text=True)
    data = json.loads(text)
    assert [m["code"] for m in data["memberships"]] == [eva.code]
    assert "ana@mail.example" not in text and ana_cafe.code not in text


def test_plugins_erase_their_copies_of_the_person(client, app, platform, people, smtp_server):
    """The notifications plugin's `member_erased`: its log of e-mails sent keeps no
    address of the deleted person, at either merchant (one where the plugin was switched
    off since included); other people's rows untouched."""
    from plugins.notifications.models import Delivery

    _cafe, bakery, ana_cafe, _ana_bakery, _eva = people
    smtp_server.handler.wait_for(6)

    def recipients() -> list[tuple[int, str]]:
        with platform_session(platform.sessions) as session:
            return sorted(session.execute(select(Delivery.tenant_id, Delivery.recipient)).all())

    before = recipients()
    assert sum(1 for _t, to in before if to == "ana@mail.example") == 4  # 2 welcomes, 2 points
    # Switched off at the bakery since: its log still holds her address, and is erased too.
    with platform_session(platform.sessions) as session:
        platform.plugins.switch(session, session.merge(bakery), "notifications", False)
        session.commit()
    sign_in_customer(client, app, ana_cafe)
    client.post(
        "/app/my-data/delete",
        data={"csrf_token": delete_form(client), "password": PASSWORD},
    )
    erased = f"deleted-{ana_cafe.customer_id}@deleted.invalid"
    assert recipients() == sorted(
        (t, erased if to == "ana@mail.example" else to) for t, to in before
    )


def test_on_a_brands_domain_the_pages_are_the_brands(client, app, make_tenant, make_member):
    brand = make_tenant("marca", name="Marca Propia", domain="puntos.marca.example")
    member = make_member(brand, "ana@mail.example")
    sign_in_customer(client, app, member, domain="puntos.marca.example")
    on_brand = "http://puntos.marca.example"
    for path in ("/app/profile", "/app/my-data"):
        page = client.get(path, base_url=on_brand)
        assert page.status_code == 200, path
        text = page.get_data(as_text=True)
        assert "Marca Propia" in text and "premia" not in text.lower()
    data = json.loads(client.get("/app/my-data.json", base_url=on_brand).get_data(as_text=True))
    assert [m["code"] for m in data["memberships"]] == [member.code]


def test_the_download_runs_as_many_statements_for_many_memberships(
    client, app, platform, db, make_tenant, make_member
):
    from sqlalchemy import event

    def statements(member) -> int:
        sign_in_customer(client, app, member)
        client.get("/app/profile")  # the session's first use is behind us
        seen: list[str] = []

        def before(_conn, _cursor, statement, *_args):
            seen.append(statement)

        event.listen(platform.engine, "before_cursor_execute", before)
        try:
            assert client.get("/app/my-data.json").status_code == 200
        finally:
            event.remove(platform.engine, "before_cursor_execute", before)
        return len(seen)

    one = make_member(make_tenant(), "uno@mail.example")
    many = []
    for _ in range(8):
        tenant = make_tenant()
        many.append(make_member(tenant, "muchos@mail.example"))
        movements(db, tenant, many[-1], ("earn", 5, {}), ("earn", 7, {}))
    assert statements(many[0]) == statements(one)


def test_guessing_the_password_to_delete_is_limited(make_app, platform, people):
    """A stolen session cannot guess the password on the deletion form: failures count
    as failed sign-ins of the account, and past the limit even the right one waits."""
    _cafe, _bakery, ana_cafe, _ana_bakery, _eva = people
    app = make_app(PREMIA_LOGIN_LIMIT="2 per minute")
    with app.app_context():
        client = app.test_client()
        sign_in_customer(client, app, ana_cafe)
        for _attempt in range(2):
            answer = client.post(
                "/app/my-data/delete",
                data={"csrf_token": delete_form(client), "password": "not-hers-1"},
            )
            assert answer.status_code == 422
        answer = client.post(
            "/app/my-data/delete",
            data={"csrf_token": delete_form(client), "password": PASSWORD},
        )
        assert answer.status_code == 429
    with platform_session(platform.sessions) as session:
        assert session.get(Customer, ana_cafe.customer_id).deleted_at is None
