"""A brand's own domain: entered, proven by its DNS (a DNS server the test runs), served once
verified, checked again daily with a grace period, and the proxy's `ask` endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header

import pytest
from sqlalchemy import select

from core.host.db import clock_at, platform_session
from core.host.errors import Conflict, InvalidInput, NotFound
from tenants import domains
from tenants.models import Tenant, TenantDomain

DOMAIN = "puntos.cafelaesquina.co"
TARGET = "premia.example"
OPERATOR = "guardia@premia.example"
ASK = "/.well-known/premia/domain-check"


@pytest.fixture
def app(make_app, dns_server):
    application = make_app(
        PREMIA_PLATFORM_HOSTS=["localhost", "127.0.0.1", TARGET],
        PREMIA_CNAME_TARGET=TARGET,
        PREMIA_DNS_NAMESERVERS=[dns_server.address],
        PREMIA_DNS_TIMEOUT=0.5,
        PREMIA_OPERATOR_EMAILS=[OPERATOR],
    )
    with application.app_context():
        yield application


@pytest.fixture
def brand(make_tenant):
    return make_tenant("cafe", name="Café La Esquina", plan="white-label", language="es")


def claim(db, tenant, name: str = DOMAIN) -> TenantDomain:
    with db(tenant) as session:
        found = domains.set_domain(session, session.get(Tenant, tenant.id), name)
        session.commit()
        return found


def publish(dns_server, domain: TenantDomain, *, cname: str = TARGET, token: str | None = None):
    """Create the records the panel shows (or wrong ones) in the test's DNS."""
    dns_server.cname(domain.name, cname)
    dns_server.txt(f"_premia-verify.{domain.name}", domains.txt_value(token or domain.token))


def verify(db, tenant) -> domains.Check:
    with db(tenant) as session:
        check = domains.verify(session, session.get(Tenant, tenant.id), domains.current(session))
        session.commit()
        return check


def served(platform, tenant) -> str | None:
    with platform_session(platform.sessions) as session:
        return session.get(Tenant, tenant.id).domain


def state(db, tenant) -> TenantDomain:
    with db(tenant) as session:
        return domains.current(session)


def subject(message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def text_of(message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")


# --- what a merchant may enter ------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("puntos.cafelaesquina.co", "puntos.cafelaesquina.co"),
        ("  Puntos.CafeLaEsquina.CO. ", "puntos.cafelaesquina.co"),
        ("https://puntos.cafelaesquina.co/app/", "puntos.cafelaesquina.co"),
        ("puntos.café.co", "puntos.xn--caf-dma.co"),
    ],
)
def test_a_domain_is_read_as_a_host_name(app, typed, name):
    assert domains.normalize(typed) == name


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "localhost",
        "192.168.1.10",
        "puntos",
        "-puntos.cafe.co",
        "puntos..cafe.co",
        "puntos cafe.co",
        "puntos_cafe.co",
        "a" * 64 + ".co",
        "puntos.cafe.c0",
    ],
)
def test_what_is_no_host_name_is_refused(app, typed):
    with pytest.raises(InvalidInput) as refused:
        domains.normalize(typed)
    assert "domain" in refused.value.fields


@pytest.mark.parametrize("name", [TARGET, "tienda." + TARGET, "localhost.co"[:0] + "127.0.0.1"])
def test_the_platforms_own_hosts_are_refused(app, brand, db, name):
    with pytest.raises(InvalidInput):
        claim(db, brand, name)
    assert state(db, brand) is None


def test_a_plan_without_an_own_domain_cannot_set_one(app, make_tenant, db):
    shop = make_tenant("gratis", plan="free")
    assert not domains.allowed(shop)
    with pytest.raises(NotFound):
        claim(db, shop)
    assert state(db, shop) is None


def test_the_plan_limit_is_data_the_operators_edit(app, make_plan, make_tenant, platform):
    from tenants.services import get_plan, set_plan_limit

    make_plan("local", set())  # a plan the seeds do not name: unlimited, as for plugins
    shop = make_tenant("local", plan="local")
    assert domains.allowed(shop)
    with platform_session(platform.sessions) as session:
        set_plan_limit(session, get_plan(session, "local"), domains.LIMIT.name, 0)
        session.commit()
        assert not domains.allowed(session.get(Tenant, shop.id))
    assert domains.LIMIT.name in platform.plugins.limits()


def test_entering_a_domain_shows_records_but_serves_nothing_yet(app, brand, db, client):
    domain = claim(db, brand)
    assert domain.name == DOMAIN and len(domain.token) == 32
    assert [(r.type, r.name, r.value) for r in domains.records(domain)] == [
        ("CNAME", DOMAIN, TARGET),
        ("TXT", f"_premia-verify.{DOMAIN}", f"premia-verify={domain.token}"),
    ]
    assert client.get("/app/", base_url=f"http://{DOMAIN}").status_code == 400
    assert client.get(ASK, query_string={"domain": DOMAIN}).status_code == 404


# --- verifying ----------------------------------------------------------------------------


def test_a_domain_with_both_records_is_verified_and_served(
    app, brand, db, platform, client, dns_server
):
    domain = claim(db, brand)
    publish(dns_server, domain)
    check = verify(db, brand)
    assert check.ok
    assert served(platform, brand) == DOMAIN
    assert state(db, brand).verified_at is not None
    page = client.get("/login", base_url=f"http://{DOMAIN}")
    assert page.status_code == 200 and "Café La Esquina" in page.get_data(as_text=True)
    assert (DOMAIN, "CNAME") in dns_server.queries
    assert (f"_premia-verify.{DOMAIN}", "TXT") in dns_server.queries


def test_a_wrong_txt_token_is_not_verified(app, brand, db, platform, client, dns_server):
    domain = claim(db, brand)
    publish(dns_server, domain, token="0" * 32)
    check = verify(db, brand)
    assert check.problems == ["wrong_txt"]
    assert served(platform, brand) is None
    assert state(db, brand).problem == "wrong_txt"
    assert client.get("/login", base_url=f"http://{DOMAIN}").status_code == 400


def test_a_missing_cname_is_not_verified(app, brand, db, platform, dns_server):
    domain = claim(db, brand)
    dns_server.txt(f"_premia-verify.{DOMAIN}", domains.txt_value(domain.token))
    assert verify(db, brand).problems == ["no_cname"]
    assert served(platform, brand) is None


def test_a_cname_to_another_host_and_no_txt_are_both_told(app, brand, db, platform, dns_server):
    claim(db, brand)
    dns_server.cname(DOMAIN, "otro-proveedor.example")
    check = verify(db, brand)
    assert check.problems == ["wrong_cname", "no_txt"]
    assert len(check.messages) == 2
    assert served(platform, brand) is None


def test_an_unanswering_dns_teaches_nothing(app, brand, db, platform, dns_server):
    claim(db, brand)
    dns_server.silent = True
    assert verify(db, brand).problems == ["dns_error"]
    assert served(platform, brand) is None


def test_a_new_domain_stops_serving_the_old_one(app, brand, db, platform, dns_server):
    publish(dns_server, claim(db, brand))
    verify(db, brand)
    token = state(db, brand).token
    moved = claim(db, brand, "club.cafelaesquina.co")
    assert moved.token == token  # one token per merchant
    assert moved.verified_at is None
    assert served(platform, brand) is None


def test_removing_the_domain_stops_serving_it(app, brand, db, platform, dns_server):
    publish(dns_server, claim(db, brand))
    verify(db, brand)
    with db(brand) as session:
        domains.remove_domain(session, session.get(Tenant, brand.id))
        session.commit()
    assert served(platform, brand) is None and state(db, brand) is None


def test_an_operators_domain_is_served_until_the_merchant_enters_another(
    app, make_tenant, db, platform
):
    shop = make_tenant("marca", plan="white-label", domain="puntos.marca.example")
    assert served(platform, shop) == "puntos.marca.example"
    claim(db, shop, "puntos.marca.example")  # the same name: kept while it gets verified
    assert served(platform, shop) == "puntos.marca.example"
    claim(db, shop, "club.marca.example")
    assert served(platform, shop) is None


# --- one merchant's domain is no other's ------------------------------------------------


def test_a_merchant_cannot_claim_or_verify_another_merchants_domain(
    app, brand, make_tenant, db, platform, dns_server
):
    other = make_tenant("otro", name="Otro", plan="white-label")
    mine = claim(db, brand)
    # A pending claim blocks nobody: another merchant may enter the same name...
    theirs = claim(db, other)
    assert theirs.token != mine.token
    publish(dns_server, mine)
    # ...but only the token in the DNS proves whose it is.
    assert verify(db, other).problems == ["wrong_txt"]
    assert served(platform, other) is None
    assert verify(db, brand).ok
    assert served(platform, brand) == DOMAIN
    # Served, it is nobody else's: neither to enter nor, with their token published, to verify.
    with pytest.raises(Conflict):
        claim(db, other, "PUNTOS.cafelaesquina.co")
    publish(dns_server, theirs)
    assert verify(db, other).problems == ["taken"]
    assert served(platform, other) is None and served(platform, brand) == DOMAIN


# --- the daily check ------------------------------------------------------------------------


def test_a_failing_domain_is_reported_kept_for_the_grace_period_then_stopped(
    app, brand, db, platform, client, dns_server, smtp_server
):
    domain = claim(db, brand)
    publish(dns_server, domain)
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    with clock_at(start):
        assert verify(db, brand).ok
    with clock_at(start + timedelta(hours=23)):
        assert domains.tick() == []  # checked less than a day ago

    dns_server.records.pop((f"_premia-verify.{DOMAIN}", "TXT"))  # the records go missing
    first_failure = start + timedelta(days=1, minutes=5)
    with clock_at(first_failure):
        assert domains.tick() == [brand.id]
    after = state(db, brand)
    assert after.failing_since == first_failure and after.problem == "no_txt"
    assert served(platform, brand) == DOMAIN  # still served: the grace period
    assert client.get("/login", base_url=f"http://{DOMAIN}").status_code == 200
    mails = smtp_server.handler.wait_for(2)
    assert sorted(m["To"] for m in mails) == sorted([OPERATOR, "owner1@shop1.example"])
    owner = next(m for m in mails if m["To"] != OPERATOR)
    assert subject(owner) == f"Tu dominio {DOMAIN} dejó de verificarse"  # the merchant's language
    body = text_of(owner)
    assert domain.token in body
    # The panel's link is on the shared app: the brand's own domain is what is failing.
    assert "http://localhost/t/cafe/panel/settings/domain/" in body.split()
    operator = next(m for m in mails if m["To"] == OPERATOR)
    assert "Premia" in operator["From"] and DOMAIN in subject(operator)

    with clock_at(first_failure + timedelta(days=1, minutes=5)):
        assert domains.tick() == [brand.id]
    assert len(smtp_server.handler.messages) == 2  # reported once
    assert served(platform, brand) == DOMAIN

    with clock_at(first_failure + timedelta(days=7)):
        domains.tick()
    stopped = state(db, brand)
    assert stopped.stopped_at == first_failure + timedelta(days=7)
    assert served(platform, brand) is None
    assert client.get("/login", base_url=f"http://{DOMAIN}").status_code == 400
    assert client.get(ASK, query_string={"domain": DOMAIN}).status_code == 404
    mails = smtp_server.handler.wait_for(4)
    assert {subject(m) for m in mails[2:]} == {
        f"Tu dominio {DOMAIN} ya no se sirve",
        f"Dominio que ya no se sirve: {DOMAIN} (Café La Esquina)",
    }

    publish(dns_server, domain)  # restored: the next daily check serves it again
    with clock_at(first_failure + timedelta(days=8, minutes=5)):
        assert domains.tick() == [brand.id]
    again = state(db, brand)
    assert served(platform, brand) == DOMAIN
    assert again.failing_since is None and again.stopped_at is None and again.problem is None


def test_a_domain_that_recovers_within_the_grace_period_is_cleared(
    app, brand, db, platform, dns_server, smtp_server
):
    domain = claim(db, brand)
    publish(dns_server, domain)
    verify(db, brand)
    dns_server.cname(DOMAIN, "otro-proveedor.example")
    assert verify(db, brand).problems == ["wrong_cname"]
    assert state(db, brand).failing_since is not None
    smtp_server.handler.wait_for(2)
    publish(dns_server, domain)
    assert verify(db, brand).ok
    recovered = state(db, brand)
    assert recovered.failing_since is None and recovered.reported_at is None


def test_our_dns_failing_does_not_start_the_grace_period(app, brand, db, platform, dns_server):
    publish(dns_server, claim(db, brand))
    verify(db, brand)
    dns_server.silent = True
    assert verify(db, brand).inconclusive
    after = state(db, brand)
    assert after.failing_since is None and after.problem == "dns_error"
    assert served(platform, brand) == DOMAIN


def test_a_pending_domain_is_verified_by_the_daily_check_too(app, brand, db, platform, dns_server):
    publish(dns_server, claim(db, brand))
    assert domains.tick() == [brand.id]
    assert served(platform, brand) == DOMAIN


def test_a_plan_without_an_own_domain_stops_serving_it_at_the_daily_check(
    app, brand, db, platform, dns_server
):
    from tenants.services import get_plan

    publish(dns_server, claim(db, brand))
    verify(db, brand)
    with platform_session(platform.sessions) as session:
        session.get(Tenant, brand.id).plan = get_plan(session, "free")
        session.commit()
    queries = len(dns_server.queries)
    with clock_at(datetime.now(UTC) + timedelta(days=1, minutes=1)):
        assert domains.tick() == [brand.id]
    assert served(platform, brand) is None
    assert len(dns_server.queries) == queries  # not even looked up


def test_the_daily_check_is_a_periodic_job(app, platform):
    jobs = {job.name: job for job in platform.jobs.periodic}
    assert jobs["core.domains"].func is domains.tick
    assert jobs["core.domains"].every == 3600


# --- the reverse proxy's `ask` --------------------------------------------------------------


def test_the_ask_endpoint_answers_200_only_for_a_served_brand_domain(
    app, brand, make_tenant, db, client, dns_server
):
    make_tenant("pendiente", plan="white-label")
    domain = claim(db, brand)
    assert client.get(ASK, query_string={"domain": DOMAIN}).status_code == 404
    publish(dns_server, domain)
    verify(db, brand)
    assert client.get(ASK, query_string={"domain": DOMAIN}).status_code == 200
    assert client.get(ASK, query_string={"domain": DOMAIN.upper() + "."}).status_code == 200
    for other in ("otro.cafelaesquina.co", TARGET, "localhost", ""):
        assert client.get(ASK, query_string={"domain": other}).status_code == 404
    assert client.get(ASK).status_code == 404


def test_the_ask_endpoint_answers_whatever_the_host(app, brand, db, client, dns_server):
    publish(dns_server, claim(db, brand))
    verify(db, brand)
    # The proxy asks by address (e.g. http://127.0.0.1:8000), which may be no platform host.
    answer = client.get(ASK, query_string={"domain": DOMAIN}, base_url="http://10.0.0.7:8000")
    assert answer.status_code == 200
    unknown = client.get(ASK, query_string={"domain": "x.example"}, base_url="http://10.0.0.7:8000")
    assert unknown.status_code == 404


def test_name_servers_are_read_with_their_ports(app):
    assert domains._nameserver("127.0.0.1:5353").port == 5353
    assert domains._nameserver("[::1]:5353").address == "::1"
    assert domains._nameserver("10.0.0.2").port == 53
    with platform_session(app.extensions["premia"].sessions) as session:
        assert session.scalars(select(TenantDomain)).all() == []


def test_the_configuration_is_read_from_the_environment(tmp_path):
    from core.host.config import load_config

    config = load_config(
        tmp_path,
        {
            "PREMIA_CNAME_TARGET": "Premia.Example.",
            "PREMIA_DNS_NAMESERVERS": "127.0.0.1:5353, [::1]:53",
            "PREMIA_DOMAIN_GRACE_DAYS": "3",
            "PREMIA_OPERATOR_EMAILS": "a@premia.example, b@premia.example",
        },
    )
    assert config["PREMIA_CNAME_TARGET"] == "premia.example"
    assert config["PREMIA_DNS_NAMESERVERS"] == ["127.0.0.1:5353", "[::1]:53"]
    assert config["PREMIA_DOMAIN_GRACE_DAYS"] == 3
    assert config["PREMIA_OPERATOR_EMAILS"] == ["a@premia.example", "b@premia.example"]
    defaults = load_config(tmp_path, {})
    assert defaults["PREMIA_CNAME_TARGET"] is None and defaults["PREMIA_DNS_NAMESERVERS"] == []
    assert defaults["PREMIA_DOMAIN_GRACE_DAYS"] == 7 and defaults["PREMIA_OPERATOR_EMAILS"] == []
