"""Real services the tests start or reach: an SMTP server, Redis."""

from __future__ import annotations

import email
import os
import socket
import threading
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from redis import Redis

__all__ = ["SMTPRecorder", "redis_url", "smtp_server"]


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
