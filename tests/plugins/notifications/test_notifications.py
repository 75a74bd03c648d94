"""E-mail notifications, sent for real to the test SMTP server (or to the outbox)."""

from __future__ import annotations

import email
import os
import tempfile
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from sqlalchemy import select

from core.host.actors import Actor
from core.host.db import platform_session, tenant_session
from core.host.settings import save_settings
from core.loyalty import ledger, rewards
from core.loyalty.bulk_enrolment import NewMember, enrol_in_bulk
from core.loyalty.customers import create_member
from core.loyalty.members import Membership
from core.loyalty.program import update_program
from core.loyalty.purchases import record_purchase
from plugins.notifications import hooks, jobs
from plugins.notifications.models import Delivery
from plugins.notifications.settings import NotificationSettings
from plugins.tiers import services as tier_services
from tenants import services as tenant_services

STAFF = Actor.staff(1)
CATALOGS = Path(jobs.__file__).resolve().parent / "translations"


# --- reading what was sent ------------------------------------------------------------


def header(message: Message, name: str) -> str:
    return str(make_header(decode_header(message[name])))


def parts(message: Message) -> dict[str, str]:
    """{"text/plain": …, "text/html": …} of a multipart/alternative message."""
    assert message.get_content_type() == "multipart/alternative"
    found = {}
    for part in message.walk():
        if part.get_content_maintype() == "text":
            found[part.get_content_type()] = part.get_payload(decode=True).decode(
                part.get_content_charset() or "utf-8"
            )
    assert set(found) == {"text/plain", "text/html"}
    return found


def only_one(smtp_server) -> Message:
    messages = smtp_server.handler.wait_for(1)
    assert len(messages) == 1, [m["Subject"] for m in messages]
    return messages[0]


def deliveries(db, tenant) -> list[tuple[str, str, str]]:
    with db(tenant) as session:
        return [
            (d.template, d.recipient, d.key)
            for d in session.scalars(select(Delivery).order_by(Delivery.id))
        ]


def earn(db, tenant, member, points):
    with db(tenant) as session:
        entry = ledger.earn(session, member, points=points, actor=STAFF)
        session.commit()
        return entry


@pytest.fixture
def shop(make_tenant):
    return make_tenant(name="Panadería Núñez", email="shop@x.example")


# --- what is sent -------------------------------------------------------------------


def test_new_member_gets_a_welcome_email(shop, make_member, db, smtp_server):
    member = make_member(shop, email="Lucia@Mail.example", first_name="Lucía")
    message = only_one(smtp_server)
    assert getaddresses([message["To"]]) == [("", "lucia@mail.example")]
    display_name, address = parseaddr(header(message, "From"))
    assert display_name == "Panadería Núñez"
    assert address == "no-reply@localhost"
    assert parseaddr(message["Reply-To"])[1] == "shop@x.example"
    assert "Panadería Núñez" in header(message, "Subject")
    body = parts(message)
    for text in body.values():
        assert member.code in text
        assert "Lucía" in text
    assert "<html" in body["text/html"] and "<html" not in body["text/plain"]
    assert deliveries(db, shop) == [("welcome", "lucia@mail.example", f"welcome:{member.id}")]


def test_welcome_email_shows_the_welcome_points(make_tenant, make_member, db, smtp_server):
    tenant = make_tenant()
    with db(tenant) as session:
        update_program(session, {"welcome_points": 75})
        session.commit()
    make_member(tenant)
    body = parts(only_one(smtp_server))
    assert "75" in body["text/plain"] and "75" in body["text/html"]


def test_members_enrolled_together_are_welcomed_a_chunk_per_job(
    shop, db, platform, smtp_server, monkeypatch
):
    monkeypatch.setattr(hooks, "WELCOME_CHUNK", 2)
    queued = []
    real = platform.jobs.enqueue

    def spy(job, *args):
        queued.append((job.__name__, args))
        return real(job, *args)

    monkeypatch.setattr(platform.jobs, "enqueue", spy)
    people = [NewMember(f"p{n}@mail.example", f"P{n}") for n in range(5)]
    with db(shop) as session:
        ids = enrol_in_bulk(session, people, actor=STAFF)
        session.commit()
    assert queued == [
        ("mail_welcomes", (shop.id, ids[0:2])),
        ("mail_welcomes", (shop.id, ids[2:4])),
        ("mail_welcomes", (shop.id, ids[4:5])),
    ]
    messages = smtp_server.handler.wait_for(5)
    assert sorted(parseaddr(m["To"])[1] for m in messages) == [p.email for p in people]
    assert deliveries(db, shop) == [
        ("welcome", p.email, f"welcome:{i}") for p, i in zip(people, ids, strict=True)
    ]
    # A job run again (a retry) welcomes nobody twice: the same key as one by one.
    assert jobs.mail_welcomes(shop.id, ids) == 0
    assert jobs.mail_member(shop.id, ids[0], "welcome", f"welcome:{ids[0]}", {}) is False
    assert len(smtp_server.handler.messages) == 5


def test_welcome_setting_off_welcomes_nobody_enrolled_together(shop, db, smtp_server):
    with db(shop) as session:
        off = {"on_member_created": False}
        save_settings(session, "notifications", NotificationSettings(), off)
        enrol_in_bulk(session, [NewMember("p@mail.example", "P")], actor=STAFF)
        session.commit()
    assert smtp_server.handler.messages == [] and deliveries(db, shop) == []


def test_points_received_tells_points_and_balance(shop, make_member, db, smtp_server):
    member = make_member(shop, email="ana@mail.example")
    earn(db, shop, member, 120)
    entry = earn(db, shop, member, 35)
    messages = smtp_server.handler.wait_for(3)
    assert len(messages) == 3  # welcome, then one per movement
    last = messages[-1]
    assert parseaddr(last["To"])[1] == "ana@mail.example"
    assert "35" in header(last, "Subject")
    for text in parts(last).values():
        assert "35" in text and "155" in text  # the points and the balance after them
    assert [d[0] for d in deliveries(db, shop)] == ["welcome", "points_received", "points_received"]
    assert deliveries(db, shop)[-1][2] == f"points_received:{entry.id}"


def test_a_redemption_is_no_points_received_email(shop, make_member, db, smtp_server):
    member = make_member(shop)
    earn(db, shop, member, 100)
    with db(shop) as session:
        ledger.redeem(session, member, 40, actor=STAFF)
        ledger.adjust(session, member, -10, actor=STAFF, description="error")
        session.commit()
    assert len(smtp_server.handler.wait_for(2)) == 2
    assert [d[0] for d in deliveries(db, shop)] == ["welcome", "points_received"]
    assert len(smtp_server.handler.messages) == 2


def test_points_setting_off_sends_nothing_for_points(shop, make_member, db, smtp_server):
    with db(shop) as session:
        save_settings(session, "notifications", NotificationSettings(), {"on_points": False})
        session.commit()
    member = make_member(shop)
    only_one(smtp_server)  # the welcome e-mail has its own setting, still on
    earn(db, shop, member, 50)
    assert len(smtp_server.handler.messages) == 1
    assert [d[0] for d in deliveries(db, shop)] == ["welcome"]


def test_redemption_request_emails_the_merchant(shop, make_member, db, smtp_server):
    with db(shop) as session:
        update_program(session, {"customer_redemption_requests": True})
        reward = rewards.create_reward(session, name="Torta de cumpleaños", points=80)
        session.commit()
    member = make_member(shop, email="pedro@mail.example", first_name="Pedro", last_name="Pérez")
    earn(db, shop, member, 100)
    smtp_server.handler.messages.clear()
    with db(shop) as session:
        redemption = rewards.request_reward(session, member, reward)
        session.commit()
    message = only_one(smtp_server)
    assert getaddresses([message["To"]]) == [("", "shop@x.example")]
    assert "Torta de cumpleaños" in header(message, "Subject")
    for text in parts(message).values():
        assert member.code in text and "Pedro Pérez" in text and "80" in text
    assert deliveries(db, shop)[-1] == (
        "redemption_requested",
        "shop@x.example",
        f"redemption_requested:{redemption.id}",
    )
    # staff confirm it: now the customer hears about it
    with db(shop) as session:
        rewards.confirm(session, redemption, actor=STAFF)
        session.commit()
    messages = smtp_server.handler.wait_for(2)
    assert len(messages) == 2
    assert parseaddr(messages[1]["To"])[1] == "pedro@mail.example"
    assert "Torta de cumpleaños" in header(messages[1], "Subject")


def test_merchant_without_email_gets_no_request_email(make_tenant, make_member, db, smtp_server):
    tenant = make_tenant()  # no e-mail address
    with db(tenant) as session:
        update_program(session, {"customer_redemption_requests": True})
        reward = rewards.create_reward(session, name="Café", points=10)
        session.commit()
    member = make_member(tenant)
    with db(tenant) as session:
        ledger.adjust(session, member, 10, actor=STAFF, description="regalo")
        session.commit()
    assert len(smtp_server.handler.wait_for(2)) == 2
    with db(tenant) as session:
        rewards.request_reward(session, member, reward)
        session.commit()
    assert len(smtp_server.handler.messages) == 2
    assert [d[0] for d in deliveries(db, tenant)] == ["welcome", "points_received"]


def test_rerunning_a_mail_job_sends_no_duplicate(shop, make_member, db, smtp_server):
    member = make_member(shop)
    entry = earn(db, shop, member, 60)
    assert len(smtp_server.handler.wait_for(2)) == 2
    key = f"points_received:{entry.id}"
    assert (
        jobs.mail_member(shop.id, member.id, "points_received", key, {"entry_id": entry.id})
        is False
    )
    assert len(smtp_server.handler.messages) == 2
    assert len(deliveries(db, shop)) == 2
    # the same job with a key never used does send: the refusal above was the key's doing
    assert (
        jobs.mail_member(
            shop.id, member.id, "points_received", "points_received:manual", {"entry_id": entry.id}
        )
        is True
    )
    assert len(smtp_server.handler.wait_for(3)) == 3
    assert len(deliveries(db, shop)) == 3


def test_a_mail_sent_again_for_its_key_is_the_same_message(shop, make_member, db, smtp_server):
    """A worker killed after the SMTP server took a mail, before the job's commit, sends it
    again on retry: with the same Message-ID, which mail systems deliver once."""
    member = make_member(shop)
    entry = earn(db, shop, member, 60)
    first = smtp_server.handler.wait_for(2)
    key = f"points_received:{entry.id}"
    with db(shop) as session:  # the commit the killed worker never made
        session.delete(session.scalars(select(Delivery).filter_by(key=key)).one())
        session.commit()
    assert jobs.mail_member(shop.id, member.id, "points_received", key, {"entry_id": entry.id})
    again = smtp_server.handler.wait_for(3)[2]
    sent = {m["Message-ID"] for m in first}
    assert again["Message-ID"] in sent
    assert len(sent) == 2  # the welcome's differs: another key
    assert again["Message-ID"].endswith("@localhost>")


def test_the_same_key_at_two_merchants_is_two_messages(app, make_tenant):
    from core.web.mail import build_message

    one, two = make_tenant(name="Uno"), make_tenant(name="Dos")
    with app.test_request_context():
        ids = [
            build_message(t, "ana@mail.example", "s", "t", "h", once_key="welcome:1")["Message-ID"]
            for t in (one, two, one)
        ]
    assert ids[0] == ids[2] != ids[1]


def test_plugin_switched_off_sends_nothing(shop, make_member, db, platform, smtp_server):
    with db(shop) as session:
        platform.plugins.switch(session, shop, "notifications", False)
        session.commit()
    member = make_member(shop)
    entry = earn(db, shop, member, 40)
    assert (
        jobs.mail_member(
            shop.id,
            member.id,
            "points_received",
            f"points_received:{entry.id}",
            {"entry_id": entry.id},
        )
        is None
    )
    assert smtp_server.handler.messages == []
    assert deliveries(db, shop) == []
    # and on again: mail flows
    with db(shop) as session:
        platform.plugins.switch(session, shop, "notifications", True)
        session.commit()
    earn(db, shop, member, 5)
    assert len(smtp_server.handler.wait_for(1)) == 1


def test_another_tenants_switch_does_not_matter(
    make_tenant, make_member, db, platform, smtp_server
):
    quiet, loud = make_tenant(), make_tenant()
    with db(quiet) as session:
        platform.plugins.switch(session, quiet, "notifications", False)
        session.commit()
    make_member(quiet)
    make_member(loud, email="loud@mail.example")
    message = only_one(smtp_server)
    assert parseaddr(message["To"])[1] == "loud@mail.example"


def test_without_smtp_host_the_mail_goes_to_the_outbox(make_app, tmp_path, smtp_server):
    outbox = tmp_path / "outbox"
    application = make_app(PREMIA_SMTP_HOST=None, PREMIA_OUTBOX=str(outbox))
    platform = application.extensions["premia"]
    with application.app_context():
        with platform_session(platform.sessions) as session:
            tenant = tenant_services.create_tenant(
                session,
                slug="outbox-shop",
                name="Tienda Buzón",
                plan="free",
                currency="COP",
                country="CO",
                timezone="America/Bogota",
                owner_email="owner@outbox.example",
                owner_password="correct-horse-9",
            )
            session.commit()
        with tenant_session(platform.sessions, tenant.id) as session:
            member = create_member(session, email="maria@mail.example", actor=Actor.system())
            session.commit()
    files = sorted(outbox.glob("*.eml"))
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes())
    assert parseaddr(message["To"])[1] == "maria@mail.example"
    assert parseaddr(header(message, "From"))[0] == "Tienda Buzón"
    assert member.code in parts(message)["text/plain"]
    assert smtp_server.handler.messages == []


# --- in the tenant's language -------------------------------------------------------


def compile_catalogs() -> None:
    """Compile the plugin's .po files whose .mo is missing or stale (as `make translations`)."""
    for po in sorted(CATALOGS.glob("*/LC_MESSAGES/messages.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as f:
            catalog = read_po(f, locale=po.parents[1].name)
        fd, tmp = tempfile.mkstemp(dir=po.parent, suffix=".mo.tmp")
        with os.fdopen(fd, "wb") as f:
            write_mo(f, catalog)
        os.chmod(tmp, 0o644)
        os.replace(tmp, mo)  # atomic: other test runs may be reading it


def translated(language: str, msgid: str) -> str:
    po = CATALOGS / language / "LC_MESSAGES" / "messages.po"
    assert po.exists(), f"no {language} catalog for the notifications plugin"
    with po.open("rb") as f:
        message = read_po(f, locale=language).get(msgid)
    assert message is not None and message.string, f"{msgid!r} is not translated to {language}"
    return message.string


@pytest.mark.parametrize(
    ("language", "html_lang", "number"),
    [("es", "es", "12.345"), ("en", "en", "12,345"), ("pt_BR", "pt-BR", "12.345")],
)
def test_emails_are_in_the_tenants_language(make_app, smtp_server, language, html_lang, number):
    compile_catalogs()
    application = make_app()  # made after compiling: it reads the catalogs afresh
    platform = application.extensions["premia"]
    with application.app_context():
        with platform_session(platform.sessions) as session:
            tenant = tenant_services.create_tenant(
                session,
                slug=f"lang-{language.lower().replace('_', '-')}",
                name="La Esquina",
                plan="free",
                currency="COP",
                country="CO",
                timezone="America/Bogota",
                language=language,
                owner_email="owner@esquina.example",
                owner_password="correct-horse-9",
            )
            session.commit()
        with tenant_session(platform.sessions, tenant.id) as session:
            update_program(session, {"welcome_points": 12345})
            session.commit()
        with tenant_session(platform.sessions, tenant.id) as session:
            member = create_member(session, email="cliente@mail.example", actor=STAFF)
            session.commit()
        with tenant_session(platform.sessions, tenant.id) as session:
            ledger.earn(session, member, points=2000, actor=STAFF)
            session.commit()
    welcome, points = smtp_server.handler.wait_for(2)
    assert header(welcome, "Subject") == translated(language, "Welcome to %(merchant)s") % {
        "merchant": "La Esquina"
    }
    assert header(points, "Subject") == translated(
        language, "You received %(points)s points at %(merchant)s"
    ) % {"points": "2.000" if number == "12.345" else "2,000", "merchant": "La Esquina"}
    body = parts(welcome)
    assert f'<html lang="{html_lang}">' in body["text/html"]
    assert (
        translated(language, "Your balance: %(points)s points.") % {"points": number}
        in (body["text/plain"])
    )
    if language != "en":  # the catalog really is another language, not English again
        assert translated(language, "Welcome to %(merchant)s") != "Welcome to %(merchant)s"


# --- a member's tier changed (topic "tier_changed", sent by the tiers plugin) --------------

GOLD = {"code": "oro", "name": "Oro Élite", "multiplier": "1.2", "threshold": "500000"}
SILVER = {"code": "plata", "name": "Plata & Co", "multiplier": "1", "threshold": "0"}


def tiers_shop(platform, language: str = "es"):
    """A merchant with tiers and e-mails, telling only about tiers (the other mails off)."""
    with platform_session(platform.sessions) as session:
        tenant = tenant_services.create_tenant(
            session,
            slug=f"tiers-{language.lower().replace('_', '-')}",
            name="La Esquina",
            plan="white-label",
            currency="COP",
            country="CO",
            timezone="America/Bogota",
            language=language,
            owner_email="owner@esquina.example",
            owner_password="correct-horse-9",
        )
        session.commit()
    with tenant_session(platform.sessions, tenant.id) as session:
        update_program(session, {"points_per_amount": {"amount": "1000", "points": 1}})
        platform.plugins.save_settings(session, "tiers", {"tiers": [SILVER, GOLD]})
        save_settings(
            session,
            "notifications",
            NotificationSettings(),
            {"on_member_created": False, "on_points": False},
        )
        session.commit()
    return tenant


def buy(platform, tenant, member, amount):
    with tenant_session(platform.sessions, tenant.id) as session:
        record_purchase(session, session.get(Membership, member.id), amount, actor=STAFF)
        session.commit()


@pytest.mark.parametrize(
    ("language", "multiplier"),
    [("es", "1,2"), ("en", "1.2"), ("pt_BR", "1,2")],
)
def test_a_tier_upgrade_is_emailed_in_the_members_language(
    make_app, smtp_server, language, multiplier
):
    compile_catalogs()
    application = make_app()  # made after compiling: it reads the catalogs afresh
    platform = application.extensions["premia"]
    with application.app_context():
        tenant = tiers_shop(platform, language)
        with tenant_session(platform.sessions, tenant.id) as session:
            member = create_member(
                session, email="vera@mail.example", first_name="Vera", actor=STAFF
            )
            session.commit()
        buy(platform, tenant, member, "100000")  # Plata: the row is made, no change
        buy(platform, tenant, member, "450000")  # 550,000 this month: Oro Élite
    message = only_one(smtp_server)
    assert parseaddr(message["To"])[1] == "vera@mail.example"
    assert header(message, "Subject") == translated(
        language, "You reached %(tier)s at %(merchant)s"
    ) % {"tier": "Oro Élite", "merchant": "La Esquina"}
    body = parts(message)
    congratulations = translated(
        language, "Congratulations! You reached the %(tier)s tier at %(merchant)s."
    )
    assert congratulations % {"tier": "Oro Élite", "merchant": "La Esquina"} in (body["text/plain"])
    assert "Oro Élite" in body["text/html"] and "Vera" in body["text/html"]
    assert (
        translated(language, "Your points are now multiplied by %(multiplier)s.")
        % {"multiplier": multiplier}
        in body["text/plain"]
    )
    if language != "en":  # really another language, not English again
        assert congratulations != "Congratulations! You reached the %(tier)s tier at %(merchant)s."


def test_a_lost_tier_is_emailed_with_the_merchants_names(
    shop_with_tiers, db, platform, smtp_server
):
    tenant, member = shop_with_tiers
    with db(tenant) as session:
        tiers = tier_services.tiers_of(tier_services.get_settings(session))
        tier_services.announce_change(
            session, session.get(Membership, member.id), tiers, "oro", "plata"
        )
        tier_services.announce_change(
            session, session.get(Membership, member.id), tiers, "plata", None
        )
        session.commit()
    messages = smtp_server.handler.wait_for(2)
    assert len(messages) == 2
    by_subject = {header(m, "Subject"): parts(m)["text/plain"] for m in messages}
    assert "Tu nivel en La Esquina ahora es Plata & Co" in by_subject
    assert (
        "Tu nivel en La Esquina cambió de Oro Élite a Plata & Co."
        in (by_subject["Tu nivel en La Esquina ahora es Plata & Co"])
    )
    assert (
        "Ya no tienes el nivel Plata & Co en La Esquina."
        in (by_subject["Tu nivel en La Esquina cambió"])
    )
    html = [parts(m)["text/html"] for m in messages]
    assert any("Plata &amp; Co" in page for page in html)  # escaped, not dropped
    assert [d[0] for d in deliveries(db, tenant)] == ["tier_changed", "tier_changed"]


def test_tier_setting_off_sends_no_tier_email(shop_with_tiers, db, platform, smtp_server):
    tenant, member = shop_with_tiers
    with db(tenant) as session:
        save_settings(session, "notifications", NotificationSettings(), {"on_tier_changed": False})
        session.commit()
    buy(platform, tenant, member, "600000")
    with db(tenant) as session:
        assert (
            tier_services.member_tier(session, session.get(Membership, member.id)).tier.code
            == "oro"
        )
    assert smtp_server.handler.messages == []
    assert deliveries(db, tenant) == []
    # on again: the next change is told
    with db(tenant) as session:
        save_settings(session, "notifications", NotificationSettings(), {"on_tier_changed": True})
        tiers = tier_services.tiers_of(tier_services.get_settings(session))
        tier_services.announce_change(
            session, session.get(Membership, member.id), tiers, "oro", "plata"
        )
        session.commit()
    assert len(smtp_server.handler.wait_for(1)) == 1


@pytest.fixture
def shop_with_tiers(platform, db, app):
    tenant = tiers_shop(platform)
    with db(tenant) as session:
        member = create_member(session, email="vera@mail.example", actor=STAFF)
        session.commit()
    buy(platform, tenant, member, "100000")
    return tenant, member
