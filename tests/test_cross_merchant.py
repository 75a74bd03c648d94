"""Two merchants, one person: merchant B sees only what B recorded about them.

ana@shared.example is a customer of merchant A, who recorded her as Alfonsina
Storni with a phone, a document and a birthday; her account also holds names of
her own (as the customer app will let her type). Merchant B enrols the same
e-mail as Beatriz Guido, with other fields. Every API route and panel page that
shows a customer to B, and every e-mail B sends about her, shows B's record:
never A's, never the account's.
"""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from email.header import decode_header, make_header

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from core.host.actors import Actor
from core.loyalty import rewards
from core.loyalty.members import Membership, get_member
from core.loyalty.program import update_program
from core.loyalty.purchases import Item, record_purchase
from core.testing.weblogin import csrf_token, flashes, login
from plugins.api import tokens
from plugins.notifications import jobs

EMAIL = "ana@shared.example"
A_RECORD = {
    "first_name": "Alfonsina",
    "last_name": "Storni",
    "phone": "+57 300 1110001",
    "document_id": "A-DOC-7781",
    "birthday": date(1931, 2, 13),
}
B_RECORD = {
    "first_name": "Beatriz",
    "last_name": "Guido",
    "phone": "+57 311 2220002",
    "document_id": "B-DOC-4492",
    "birthday": date(1985, 11, 2),
}
OWN_NAMES = ("Ximena", "Zuloaga")  # on the account: what the person typed herself
# What B must never be shown: A's record and the account's own names.
NOT_B = ("Alfonsina", "Storni", "1110001", "A-DOC-7781", "1931", *OWN_NAMES)
B_SHOWN = ("Beatriz Guido",)
SEARCHES = ("Storni", "Alfonsina", "A-DOC-7781", *OWN_NAMES)
B_DETAILS = ("2220002", "B-DOC-4492", "1985")

COFFEE = {
    "key": "cafe",
    "name": "Café",
    "product_group": "cafe",
    "size": 10,
    "prize": "Una tostada",
}
MASSAGE = {"key": "masaje-5", "name": "Bono de 5 masajes", "uses": 5, "price": "150000"}


def assert_only_b(text: str, *expected: str) -> None:
    # Timestamps out first: their microseconds can hold "1931" (A's birth year) by chance.
    text = re.sub(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?", "", html.unescape(text))
    leaked = [value for value in NOT_B if value in text]
    assert not leaked, f"B is shown {leaked}"
    missing = [value for value in expected if value not in text]
    assert not missing, f"B's own {missing} not shown"


# --- the two merchants and the person ------------------------------------------------


@pytest.fixture
def shop_a(make_tenant, db, platform):
    tenant = make_tenant(slug="shop-a", name="Tienda A", plan="white-label")
    with db(tenant) as session:
        platform.plugins.switch(session, tenant, "notifications", False)  # B's mail only
        session.commit()
    return tenant


@pytest.fixture
def shop_b(make_tenant, db, platform):
    tenant = make_tenant(
        slug="shop-b", name="Tienda B", plan="white-label", email="owner@shop-b.example"
    )
    with db(tenant) as session:
        update_program(
            session,
            {
                "points_per_amount": {"amount": "1000", "points": 1},
                "customer_redemption_requests": True,
            },
        )
        platform.plugins.save_settings(session, "punchcards", {"cards": [COFFEE]})
        platform.plugins.save_settings(session, "packs", {"types": [MASSAGE]})
        platform.plugins.save_settings(
            session, "cashback", {"point_value": "10", "max_pay_with_points_percent": "50"}
        )
        session.commit()
    return tenant


@pytest.fixture(params=["A's record", "and her own names"])
def at_a(request, shop_a, make_member, db):
    """Ana as A recorded her; then also with names of her own on her account."""
    member = make_member(shop_a, email=EMAIL, **A_RECORD)
    if request.param == "and her own names":
        with db(shop_a) as session:
            account = session.get(Membership, member.id).customer
            account.first_name, account.last_name = OWN_NAMES
            session.commit()
    return member


@pytest.fixture
def at_b(at_a, shop_b, make_member, db):
    """Ana as B recorded her, with points from a purchase."""
    member = make_member(shop_b, email=EMAIL, **B_RECORD)
    with db(shop_b) as session:
        record_purchase(
            session,
            session.get(Membership, member.id),
            Decimal(450_000),
            actor=Actor.system(),
            items=[Item(quantity=1, unit_price=Decimal(450_000), product_group="cafe")],
        )
        session.commit()
    return member


# --- the API --------------------------------------------------------------------------


@pytest.fixture
def call(client, shop_b, db):
    """A JSON call to the API with B's token."""
    with db(shop_b) as session:
        _row, secret = tokens.create_token(
            session, name="Caja B", scopes=tokens.parse_scopes("all")
        )
        session.commit()

    def send(method: str, path: str, json=None):
        return client.open(
            "/api/v1" + path,
            method=method,
            json=json,
            headers={"Authorization": f"Bearer {secret}"},
        )

    return send


def b_record_as_sent() -> dict:
    return {
        "email": EMAIL,
        "first_name": B_RECORD["first_name"],
        "last_name": B_RECORD["last_name"],
        "phone": B_RECORD["phone"],
        "document_id": B_RECORD["document_id"],
        "birthday": B_RECORD["birthday"].isoformat(),
    }


def test_api_enrolment_of_a_known_email_answers_as_for_a_new_person(call, at_a, db, shop_a):
    answer = call("POST", "/customers", b_record_as_sent())
    assert answer.status_code == 201, answer.json
    stranger = call(
        "POST",
        "/customers",
        {**b_record_as_sent(), "email": "new@b.example", "document_id": "B-DOC-0001"},
    )
    assert stranger.status_code == 201, stranger.json
    assert_only_b(str(answer.json))
    assert {k: v for k, v in answer.json.items() if k not in ("code", "created_at")} == {
        **b_record_as_sent(),
        "balance": 0,
    }
    # The same answer as for a person unknown to the platform, but for what differs.
    differing = {"code", "created_at", "email", "document_id"}
    assert {k: v for k, v in answer.json.items() if k not in differing} == {
        k: v for k, v in stranger.json.items() if k not in differing
    }
    # A's record and the person's own names are untouched.
    with db(shop_a) as session:
        member = get_member(session, at_a.code)
        assert (member.first_name, member.last_name, member.phone) == (
            "Alfonsina",
            "Storni",
            "+57 300 1110001",
        )
        account = (member.customer.first_name, member.customer.last_name)
        assert account in (("", ""), OWN_NAMES)  # B wrote nothing there


@pytest.mark.parametrize(
    "path",
    [
        "/customers/{code}",
        "/customers?q=ana%40shared.example",
        "/customers?q=Guido",
    ],
)
def test_api_reads_show_only_bs_record(call, at_b, path):
    answer = call("GET", path.format(code=at_b.code))
    assert answer.status_code == 200, answer.json
    assert_only_b(str(answer.json))
    (customer,) = answer.json.get("items", [answer.json])
    assert (
        customer["first_name"],
        customer["last_name"],
        customer["phone"],
        customer["document_id"],
        customer["birthday"],
    ) == ("Beatriz", "Guido", "+57 311 2220002", "B-DOC-4492", "1985-11-02")


def test_api_search_by_what_others_recorded_finds_nothing(call, at_b):
    for query in SEARCHES:
        answer = call("GET", f"/customers?q={query}")
        assert answer.status_code == 200
        assert (answer.json["total"], answer.json["items"]) == (0, []), query


def test_api_points_entries_and_redemptions_show_nothing_of_others(call, at_b):
    points = call("POST", f"/customers/{at_b.code}/points", {"points": 100})
    assert points.status_code == 201, points.json
    reward = call("POST", "/rewards", {"name": "Té", "points": 10, "stock": 3}).json
    redemption = call("POST", f"/customers/{at_b.code}/redemptions", {"reward_id": reward["id"]})
    assert redemption.status_code == 201, redemption.json
    entries = call("GET", f"/customers/{at_b.code}/entries")
    assert entries.status_code == 200 and entries.json
    assert_only_b(str(points.json) + str(redemption.json) + str(entries.json))


def test_api_till_shows_only_bs_record_and_never_reaches_as_customer(call, at_a, at_b, db, shop_a):
    """The till's endpoints answer B's record, and A's customer code is unknown to B."""
    sale = {
        "amount": "9000",
        "reference": "B-1",
        "lines": [{"product_group": "cafe", "quantity": 2, "unit_price": "4500"}],
    }
    bought = call("POST", f"/customers/{at_b.code}/purchases", sale)
    assert bought.status_code == 201, bought.json
    quote = call("POST", "/purchases/quote", {**sale, "customer_code": at_b.code})
    returned = call(
        "POST", "/purchases/B-1/returns", {"lines": [{"product_group": "cafe", "quantity": 1}]}
    )
    paid = call("POST", f"/customers/{at_b.code}/payments", {"bill_amount": "1000", "points": 1})
    shown = call("GET", f"/customers/{at_b.code}")
    assert [r.status_code for r in (quote, returned, paid, shown)] == [200, 200, 201, 200]
    assert_only_b(
        str(bought.json) + str(quote.json) + str(returned.json) + str(shown.json), *B_SHOWN[:0]
    )
    assert (shown.json["first_name"], shown.json["punch_cards"][0]["count"]) == (
        "Beatriz",
        2,
    )  # 1 before, 2 bought, 1 back
    before = at_a.balance
    for path, body in (
        (f"/customers/{at_a.code}/purchases", {**sale, "reference": "B-2"}),
        (f"/customers/{at_a.code}/payments", {"bill_amount": "1000", "points": 1}),
        (f"/customers/{at_a.code}/packs/1/uses", {}),
    ):
        assert call("POST", path, body).status_code == 404, path
    assert call("POST", "/purchases/quote", {**sale, "customer_code": at_a.code}).status_code == 404
    with db(shop_a) as session:
        assert session.get(Membership, at_a.id).balance == before


# --- the panel ------------------------------------------------------------------------


@pytest.fixture
def owner_b(client, db, shop_b):
    login(client, db, shop_b)
    return client


def read(client, url: str) -> str:
    answer = client.get(url)
    assert answer.status_code == 200, (url, answer.status_code)
    return html.unescape(answer.get_data(as_text=True))


@pytest.mark.parametrize(
    "page, details",
    [
        ("customers/", ()),
        ("customers/?q=ana%40shared.example", ()),
        ("customers/?q=guido", ()),
        ("customers/{code}", B_DETAILS),
        ("loyalty/?q=guido", ("B-DOC-4492",)),
        ("loyalty/{code}", ("B-DOC-4492",)),
        ("", ()),  # Inicio's latest movements
        ("activity/", ()),
        ("punchcards/{code}", ()),
        ("packs/{code}", ()),
        ("cashback/{code}/pay", ()),
    ],
)
def test_panel_pages_show_only_bs_record(owner_b, shop_b, at_b, page, details):
    text = read(owner_b, f"/t/{shop_b.slug}/panel/{page.format(code=at_b.code)}")
    assert at_b.code in text
    assert_only_b(text, *B_SHOWN, *details)


def test_panel_search_by_what_others_recorded_finds_nothing(owner_b, shop_b, at_b):
    for page in ("customers", "loyalty"):
        for query in SEARCHES:
            text = read(owner_b, f"/t/{shop_b.slug}/panel/{page}/?q={query.lower()}")
            assert at_b.code not in text, (page, query)


def test_panel_csv_export_has_only_bs_record(owner_b, shop_b, at_b):
    body = owner_b.get(f"/t/{shop_b.slug}/panel/customers/export.csv").get_data()
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert_only_b(body.decode("utf-8-sig"))
    (row,) = rows[1:]
    assert row[:7] == [
        at_b.code,
        "Beatriz",
        "Guido",
        EMAIL,
        "B-DOC-4492",
        "'+57 311 2220002",
        "1985-11-02",
    ]


def test_panel_card_has_only_bs_record(owner_b, shop_b, at_b):
    answer = owner_b.get(f"/t/{shop_b.slug}/panel/customers/{at_b.code}/card.pdf")
    assert answer.status_code == 200
    assert_only_b(PdfReader(io.BytesIO(answer.get_data())).pages[0].extract_text(), *B_SHOWN)


def test_panel_grant_and_redemption_messages_name_bs_record(owner_b, shop_b, at_b, db):
    url = f"/t/{shop_b.slug}/panel/loyalty/{at_b.code}"
    with db(shop_b) as session:
        reward_id = rewards.create_reward(session, name="Té", points=10).id
        session.commit()
    text = read(owner_b, url)
    key = re.search(r'name="key" type="hidden" value="([^"]+)"', text).group(1)
    given = owner_b.post(
        url + "/give",
        data={"csrf_token": csrf_token(text), "key": key, "mode": "points", "points": "5"},
    )
    assert given.status_code == 302
    text = read(owner_b, url)
    assert [m for m in flashes(text) if m[1].startswith("5 puntos dados a Beatriz Guido.")]
    key = re.findall(r'name="key" type="hidden" value="([^"]+)"', text)[-1]
    redeemed = owner_b.post(
        url + "/redeem", data={"csrf_token": csrf_token(text), "key": key, "reward": str(reward_id)}
    )
    assert redeemed.status_code == 302
    messages = flashes(read(owner_b, url))
    assert [m for m in messages if m[1].startswith("Beatriz Guido canjeó Té")], messages
    assert_only_b(str(messages))


@pytest.mark.parametrize(
    "names, shown",
    [
        ({"first_name": "Beatriz", "last_name": "Guido"}, "Beatriz Guido"),
        ({}, EMAIL),  # no names recorded: the e-mail, never someone else's names
    ],
)
def test_panel_invitation_of_a_known_email_shows_only_what_b_typed(
    owner_b, shop_b, at_a, smtp_server, names, shown
):
    url = f"/t/{shop_b.slug}/panel/customers"
    token = csrf_token(read(owner_b, url + "/invite"))
    answer = owner_b.post(
        url + "/invite",
        data={"csrf_token": token, "email": EMAIL, "phone": "+57 311 2220002", **names},
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)
    text = read(owner_b, answer.headers["Location"])
    assert f"<h1>{shown}</h1>" in text
    assert_only_b(text, "2220002")
    (invitation,) = [m for m in smtp_server.handler.wait_for(2) if "te invita" in m["Subject"]]
    body = mail_text(invitation)
    assert_only_b(body, f"Hola {names.get('first_name', EMAIL)}:")


# --- the e-mails B sends ---------------------------------------------------------------


def mail_text(message) -> str:
    parts = [str(make_header(decode_header(message["Subject"])))]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_payload(decode=True).decode(part.get_content_charset()))
    return html.unescape("\n".join(parts))


def test_bs_notification_emails_name_only_bs_record(shop_b, at_b, db, smtp_server):
    with db(shop_b) as session:
        member = session.get(Membership, at_b.id)
        reward = rewards.create_reward(session, name="Té", points=10)
        redemption = rewards.request_reward(session, member, reward)
        session.commit()
        rewards.confirm(session, redemption, actor=Actor.system())
        session.commit()
    assert jobs.mail_member(
        shop_b.id,
        at_b.id,
        "points_expiring",
        "points_expiring:test",
        {"points": 10, "expires_at": datetime(2027, 1, 1, tzinfo=UTC).isoformat()},
    )
    messages = smtp_server.handler.wait_for(5)
    templates = {t for (t,) in _deliveries(db, shop_b)}
    assert templates == {
        "welcome",
        "points_received",
        "redemption_requested",
        "redemption_confirmed",
        "points_expiring",
    }
    for message in messages:
        text = mail_text(message)
        expected = "Beatriz Guido" if message["To"] == "owner@shop-b.example" else "Beatriz"
        assert_only_b(text, expected)


def _deliveries(db, tenant):
    from plugins.notifications.models import Delivery

    with db(tenant) as session:
        return session.execute(select(Delivery.template)).all()
