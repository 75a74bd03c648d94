"""The fake FCM the benchmarks send pushes to (bench/push.py, bench/soak.py).

FCM's HTTP v1 send and Google's OAuth2 token endpoint, in a process of its own: an
asyncio server (one thread, keep-alive, HTTP/1.1 parsed by an `asyncio.Protocol`, no
stream or task per request), so the fake is not what is measured. Each message costs it
O(1): it counts the messages per device token (`counts`) and in all (a running total:
summing the per-token counts for each message's id cost 0.5 ms a message at 100,000
tokens, and made the fake the bottleneck of bench/push.py). It answers like FCM by the
token, as the tests' fake does: "dead-…" UNREGISTERED (404), "flaky-…" 503 on its first
attempt, any other success. `stats` tells the connections it accepted, the messages it
answered and its own CPU seconds. The tests' fake (tests/plugins/push/fake_fcm.py,
threaded, with more failure modes) writes the service account key and points
firebase-admin at a URL.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import multiprocessing
import os
import time
from collections import Counter
from pathlib import Path

_UNREGISTERED = json.dumps(
    {
        "error": {
            "code": 404,
            "message": "NOT_FOUND",
            "status": "NOT_FOUND",
            "details": [
                {
                    "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                    "errorCode": "UNREGISTERED",
                }
            ],
        }
    }
).encode()
_UNAVAILABLE = json.dumps(
    {"error": {"code": 503, "message": "UNAVAILABLE", "status": "UNAVAILABLE", "details": []}}
).encode()
_TOKEN = json.dumps({"access_token": "fake", "expires_in": 3600, "token_type": "Bearer"}).encode()


def _response(status: bytes, body: bytes) -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        status,
        len(body),
        body,
    )


class _State:
    def __init__(self) -> None:
        self.counts: Counter = Counter()  # accepted messages per token
        self.attempts: Counter = Counter()  # of the "flaky-" tokens
        self.messages = 0  # answered, success or not
        self.sent = 0  # accepted
        self.connections = 0

    def answer(self, head: bytes, body: bytes) -> bytes:
        if head.startswith(b"POST /token"):
            return _response(b"200 OK", _TOKEN)
        if head.startswith(b"GET /counts"):
            return _response(b"200 OK", json.dumps(self.counts).encode())
        if head.startswith(b"GET /stats"):
            stats = {
                "connections": self.connections,
                "messages": self.messages,
                "sent": self.sent,
                "cpu": time.process_time(),
            }
            return _response(b"200 OK", json.dumps(stats).encode())
        self.messages += 1
        token = json.loads(body)["message"]["token"]
        if token.startswith("dead-"):
            return _response(b"404 Not Found", _UNREGISTERED)
        if token.startswith("flaky-"):
            self.attempts[token] += 1
            if self.attempts[token] == 1:
                return _response(b"503 Service Unavailable", _UNAVAILABLE)
        self.counts[token] += 1
        self.sent += 1
        return _response(b"200 OK", b'{"name": "projects/premia-test/messages/%d"}' % self.sent)


class _Connection(asyncio.Protocol):
    """One keep-alive connection: answers each complete request in the buffer, in order."""

    def __init__(self, state: _State) -> None:
        self.state = state
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.state.connections += 1

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        answers = []
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buffer[:end]
            at = head.lower().find(b"\r\ncontent-length:")
            length = 0
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else end])
            if len(buffer) < end + 4 + length:
                break
            answers.append(self.state.answer(head, buffer[end + 4 : end + 4 + length]))
            buffer = buffer[end + 4 + length :]
        self.buffer = buffer
        if answers:
            self.transport.write(b"".join(answers))


def serve(port_pipe) -> None:
    """Answer until terminated; sends the port it listens on through `port_pipe`.
    GET /counts answers the messages received per device token, GET /stats the
    connections accepted, the messages answered and the fake's CPU seconds."""
    state = _State()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Connection(state), "127.0.0.1", 0, backlog=4096)
        port_pipe.send(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(run())


def start(folder: Path) -> tuple[multiprocessing.Process, str, Path]:
    """The fake in a daemon process: (the process, its URL, a service account key in
    `folder` whose token_uri is the fake's, for PREMIA_FIREBASE_CREDENTIALS)."""
    from tests.plugins.push.fake_fcm import FakeFcm

    receiver, sender = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.Process(target=serve, args=(sender,), daemon=True)
    process.start()
    url = f"http://127.0.0.1:{receiver.recv()}"
    keywriter = FakeFcm()  # only writes a key whose token_uri is ours
    keywriter.port = int(url.rsplit(":", 1)[1])
    key = keywriter.write_key(folder)
    keywriter.server.server_close()
    return process, url, key


def _get(url: str, path: str) -> dict:
    conn = http.client.HTTPConnection(url.split("//")[1])
    try:
        conn.request("GET", path)
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def counts(url: str) -> Counter:
    """The messages the fake accepted, per device token."""
    return Counter(_get(url, "/counts"))


def stats(url: str) -> dict[str, float]:
    """What the fake did so far: connections accepted, messages answered ("messages")
    and accepted ("sent"), its process's CPU seconds ("cpu")."""
    return _get(url, "/stats")


def run_worker(*options: str) -> None:
    """`premia worker OPTIONS…` with firebase-admin sending to the fake at BENCH_FCM_URL."""
    from tests.plugins.push.fake_fcm import point_firebase_admin_at

    point_firebase_admin_at(os.environ["BENCH_FCM_URL"])
    from core.cli import main

    main(["worker", *options], standalone_mode=False)
