"""Real services the tests start or reach: an SMTP server, a DNS server, Redis."""

from __future__ import annotations

import email
import os
import socket
import threading
from email.message import Message

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from aiosmtpd.controller import Controller
from redis import Redis

__all__ = ["DNSServer", "SMTPRecorder", "dns_server", "redis_url", "smtp_server"]


class SMTPRecorder:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.received = threading.Condition()

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook name
        with self.received:
            self.messages.append(email.message_from_bytes(envelope.content))
            self.received.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Message]:
        with self.received:
            self.received.wait_for(lambda: len(self.messages) >= count, timeout)
        return list(self.messages)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def _smtp_controller():
    recorder = SMTPRecorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def smtp_server(_smtp_controller):
    """The running SMTP server; `.handler.messages` holds what was sent during the test."""
    _smtp_controller.handler.messages.clear()
    return _smtp_controller


@pytest.fixture
def redis_url():
    """A Redis database of its own for the test, emptied before and after."""
    url = os.environ["PREMIA_TEST_REDIS_URL"]  # chosen by core/testing/servers.py
    client = Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()


class DNSServer:
    """An authoritative DNS server on UDP 127.0.0.1, built on dnspython's message API,
    answering from `records` ((name, type) -> values in zone-file syntax): a name it
    holds under other types answers no records, an unknown name NXDOMAIN. `silent`
    drops every query, as an unreachable server would."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
        self.silent = False
        self.queries: list[tuple[str, str]] = []
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self.port = self._socket.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="dns-server", daemon=True)

    @property
    def address(self) -> str:
        """For PREMIA_DNS_NAMESERVERS."""
        return f"127.0.0.1:{self.port}"

    def cname(self, name: str, target: str) -> None:
        self.records[(name.lower(), "CNAME")] = [target.rstrip(".") + "."]

    def txt(self, name: str, *texts: str) -> None:
        self.records[(name.lower(), "TXT")] = [f'"{text}"' for text in texts]

    def clear(self) -> None:
        self.records.clear()
        self.queries.clear()
        self.silent = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._socket.recvfrom(4096)
            except TimeoutError:
                continue
            if self.silent:
                continue
            self._socket.sendto(self._answer(data).to_wire(), peer)

    def _answer(self, data: bytes) -> dns.message.Message:
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        kind = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, kind))
        values = self.records.get((name, kind))
        if values:
            response.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", kind, values))
        elif not any(held == name for held, _ in self.records):
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response


@pytest.fixture(scope="session")
def _dns_server():
    server = DNSServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def dns_server(_dns_server):
    """The running DNS server, its records emptied for the test; point the app at it with
    `make_app(PREMIA_DNS_NAMESERVERS=[dns_server.address])`."""
    _dns_server.clear()
    yield _dns_server
    _dns_server.clear()
