"""Server-side request forgery: addresses checked at send time, after resolution
(loopback, private, link-local and metadata refused unless the platform allows them),
a hostname whose DNS answers 127.0.0.1 refused, the checked address the one connected
to; redirects not followed, answers read up to a small cap, URL rules."""

from __future__ import annotations

import ipaddress
import time

import pytest
from sqlalchemy import select
from werkzeug import Response

from core.host.errors import InvalidInput
from plugins.webhooks import safety, transport
from plugins.webhooks.models import Attempt, Delivery, DeliveryStatus
from tests.plugins.webhooks.conftest import url_of
from tests.plugins.webhooks.helpers import give, received


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # shared (carrier-grade NAT)
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fd00:ec2::254",  # AWS metadata over IPv6
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
    ],
)
def test_addresses_no_webhook_may_reach(address):
    assert safety.forbidden(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert not safety.forbidden(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "example.com/hooks",
        "https://user:pw@example.com/",
        "https://example.com/#frag",
        "https://example.com:0/",
        "https://example.com:99999/",
        "https:///nohost",
    ],
)
def test_urls_refused_when_an_endpoint_is_written(url):
    with pytest.raises(InvalidInput):
        safety.check_url(url, https_only=False)


def test_https_only_in_production():
    with pytest.raises(InvalidInput) as refused:
        safety.check_url("http://example.com/hooks", https_only=True)
    assert "https://" in str(refused.value.fields["url"])
    assert safety.check_url("https://example.com/hooks", https_only=True).hostname == "example.com"


def _attempt(db, tenant):
    with db(tenant) as session:
        return session.scalars(select(Attempt)).one(), session.scalars(select(Delivery)).one()


def test_a_loopback_address_is_refused_when_the_platform_does_not_allow_it(
    app, db, shop, make_member, make_endpoint, receiver
):
    receiver.expect_request("/hooks").respond_with_data("ok")
    make_endpoint(shop, url_of(receiver))
    app.config["PREMIA_WEBHOOKS_ALLOW_PRIVATE"] = False
    give(db, shop, make_member(shop))
    assert receiver.log == []
    attempt, delivery = _attempt(db, shop)
    assert attempt.status_code is None and attempt.error == "address not allowed: 127.0.0.1"
    assert delivery.status == DeliveryStatus.PENDING  # retried: the setting may change


def test_a_hostname_resolving_to_127_0_0_1_is_refused(
    app, db, shop, make_member, make_endpoint, receiver, dns_server
):
    receiver.expect_request("/hooks").respond_with_data("ok")
    dns_server.records[("hooks.example", "A")] = ["127.0.0.1"]
    app.config["PREMIA_DNS_NAMESERVERS"] = [dns_server.address]
    app.config["PREMIA_WEBHOOKS_ALLOW_PRIVATE"] = False
    make_endpoint(shop, f"http://hooks.example:{receiver.port}/hooks")
    give(db, shop, make_member(shop))
    assert receiver.log == []
    assert ("hooks.example", "A") in dns_server.queries  # resolved at send time
    attempt, _delivery = _attempt(db, shop)
    assert attempt.error == "address not allowed: 127.0.0.1"


def test_the_address_checked_is_the_one_connected_to_with_the_name_as_host(
    app, db, shop, make_member, make_endpoint, receiver, dns_server
):
    receiver.expect_request("/hooks").respond_with_data("ok")
    dns_server.records[("hooks.example", "A")] = ["127.0.0.1"]
    app.config["PREMIA_DNS_NAMESERVERS"] = [dns_server.address]
    make_endpoint(shop, f"http://hooks.example:{receiver.port}/hooks")
    give(db, shop, make_member(shop))
    [(headers, _body)] = received(receiver)
    assert headers["host"] == f"hooks.example:{receiver.port}"
    # One resolution per attempt: nothing asks the DNS again between check and connect.
    assert dns_server.queries.count(("hooks.example", "A")) == 1


def test_an_unknown_hostname_is_a_failed_attempt(
    app, db, shop, make_member, make_endpoint, dns_server
):
    app.config["PREMIA_DNS_NAMESERVERS"] = [dns_server.address]
    make_endpoint(shop, "http://nowhere.example/hooks")
    give(db, shop, make_member(shop))
    attempt, delivery = _attempt(db, shop)
    assert attempt.error.startswith("DNS: nowhere.example")
    assert delivery.status == DeliveryStatus.PENDING


def test_redirects_are_not_followed(db, shop, make_member, make_endpoint, receiver):
    receiver.expect_request("/hooks").respond_with_response(
        Response("", status=302, headers={"Location": "/elsewhere"})
    )
    receiver.expect_request("/elsewhere").respond_with_data("ok")
    make_endpoint(shop, url_of(receiver))
    give(db, shop, make_member(shop))
    assert [request.path for request, _r in receiver.log] == ["/hooks"]
    attempt, delivery = _attempt(db, shop)
    assert attempt.status_code == 302 and delivery.status == DeliveryStatus.PENDING


def test_only_the_first_bytes_of_an_answer_are_kept(db, shop, make_member, make_endpoint, receiver):
    receiver.expect_request("/hooks").respond_with_data("x" * 100_000)
    make_endpoint(shop, url_of(receiver))
    give(db, shop, make_member(shop))
    attempt, delivery = _attempt(db, shop)
    assert attempt.response == "x" * transport.RESPONSE_CAP
    assert delivery.status == DeliveryStatus.SUCCEEDED


def test_nothing_listening_is_a_failed_attempt(db, shop, make_member, make_endpoint):
    make_endpoint(shop, "http://127.0.0.1:9/hooks")  # discard port: nothing there
    give(db, shop, make_member(shop))
    attempt, _delivery = _attempt(db, shop)
    assert attempt.status_code is None and attempt.error


def test_an_answer_with_nul_bytes_is_logged_as_text(db, shop, make_member, make_endpoint, receiver):
    receiver.expect_request("/hooks").respond_with_data(b"ok\x00done")
    make_endpoint(shop, url_of(receiver))
    give(db, shop, make_member(shop))
    attempt, _delivery = _attempt(db, shop)
    assert attempt.response == "ok\ufffddone"


def test_a_long_dns_error_fits_the_log(app, db, shop, make_member, make_endpoint, dns_server):
    app.config["PREMIA_DNS_NAMESERVERS"] = [dns_server.address]
    host = ".".join(["a" * 60] * 4) + ".example"
    make_endpoint(shop, f"http://{host}/hooks")
    give(db, shop, make_member(shop))
    attempt, _delivery = _attempt(db, shop)
    assert attempt.error.startswith("DNS: aaaa") and len(attempt.error) <= 200


def test_an_answer_dripped_byte_by_byte_is_read_only_until_the_deadline(
    db, shop, make_member, make_endpoint, receiver
):
    def drip():
        for _ in range(20):
            time.sleep(0.2)  # each under the 0.5 s read timeout; 4 s in all
            yield b"x"

    receiver.expect_request("/hooks").respond_with_handler(lambda request: Response(drip()))
    make_endpoint(shop, url_of(receiver))
    give(db, shop, make_member(shop))
    attempt, delivery = _attempt(db, shop)
    assert attempt.status_code == 200 and delivery.status == DeliveryStatus.SUCCEEDED
    # Cut at 2 timeouts from the start: a few bytes of the twenty.
    assert 0 < len(attempt.response) < 10
