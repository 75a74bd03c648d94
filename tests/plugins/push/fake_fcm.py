"""A local stand-in for FCM's HTTP v1 endpoint and Google's OAuth2 token endpoint, so the
real firebase-admin code sends to it (firebase-admin has no messaging emulator).

Tokens decide the answer: "dead-…" UNREGISTERED (404), "bad-…" INVALID_ARGUMENT (400),
"flaky-…" 503 on its first `flaky_failures` attempts, "quota-…" QUOTA_EXCEEDED (429) on
its first attempt, "slow-…" holds its first attempt (until `released` is set, or 60 s)
and then answers 503, "together-…" is answered (success) once `together` of them wait at
once (FCM's latency, every sender's thread holding its connection), any other success.
Every accepted message is recorded, and every connection accepted counted.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from firebase_admin import _http_client, messaging

PROJECT = "premia-test"


def _error(status: int, name: str, code: str | None) -> dict[str, Any]:
    details = []
    if code:
        details = [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}
        ]
    return {"error": {"code": status, "message": name, "status": name, "details": details}}


def _waited(barrier: threading.Barrier) -> bool:
    try:
        barrier.wait(10)
    except threading.BrokenBarrierError:
        return False
    return True


class FakeFcm:
    def __init__(self, flaky_failures: int = 1) -> None:
        self.flaky_failures = flaky_failures
        self.lock = threading.Lock()
        self.delivered: list[dict[str, Any]] = []
        self.attempts: Counter[str] = Counter()
        self.tokens_issued = 0
        self.connections = 0
        self.released = threading.Event()
        self.together = threading.Barrier(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out at once

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with fake.lock:
                    fake.connections += 1

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path == "/token":
                    with fake.lock:
                        fake.tokens_issued += 1
                    self._answer(
                        200, {"access_token": "fake", "expires_in": 3600, "token_type": "Bearer"}
                    )
                    return
                if not self.path.endswith("/messages:send"):
                    self._answer(404, _error(404, "NOT_FOUND", None))
                    return
                if self.headers.get("Authorization") != "Bearer fake":
                    self._answer(401, _error(401, "UNAUTHENTICATED", None))
                    return
                message = json.loads(raw)["message"]
                token = message.get("token", "")
                with fake.lock:
                    fake.attempts[token] += 1
                    attempt = fake.attempts[token]
                if token.startswith("dead-"):
                    self._answer(404, _error(404, "NOT_FOUND", "UNREGISTERED"))
                elif token.startswith("bad-"):
                    self._answer(400, _error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"))
                elif token.startswith("flaky-") and attempt <= fake.flaky_failures:
                    self._answer(503, _error(503, "UNAVAILABLE", "UNAVAILABLE"))
                elif token.startswith("slow-") and attempt == 1:
                    fake.released.wait(60)  # a sender killed meanwhile never hears back
                    self._answer(503, _error(503, "UNAVAILABLE", "UNAVAILABLE"))
                elif token.startswith("together-") and not _waited(fake.together):
                    self._answer(503, _error(503, "UNAVAILABLE", "UNAVAILABLE"))
                elif token.startswith("quota-") and attempt == 1:
                    self._answer(429, _error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"))
                else:
                    with fake.lock:
                        fake.delivered.append(message)
                        number = len(fake.delivered)
                    self._answer(200, {"name": f"projects/{PROJECT}/messages/{number}"})

        class Server(ThreadingHTTPServer):
            request_queue_size = 1024  # firebase-admin opens up to 500 at once

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeFcm:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        self.released.set()  # a held answer of the previous test goes out
        with self.lock:
            self.delivered.clear()
            self.attempts.clear()
        self.released = threading.Event()
        self.together = threading.Barrier(1)

    def tokens(self) -> list[str]:
        with self.lock:
            return [m["token"] for m in self.delivered]

    def write_key(self, folder: Path) -> Path:
        """A service account key of our own making, its token_uri this server's."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        path = folder / "service-account.json"
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": PROJECT,
                    "private_key_id": "test",
                    "private_key": pem,
                    "client_email": f"push@{PROJECT}.iam.gserviceaccount.com",
                    "client_id": "1",
                    "token_uri": f"{self.url}/token",
                }
            )
        )
        return path


def point_firebase_admin_at(url: str) -> str:
    """Make firebase-admin's messaging send to `url`; returns the previous FCM_URL.

    firebase-admin mounts a pool of 100 connections (with its retries) for FCM's host
    only; the fake's address gets the same, so it is talked to as FCM would be."""
    service = messaging._MessagingService
    previous = service.FCM_URL
    service.FCM_URL = url + "/v1/projects/{0}/messages:send"
    if not hasattr(service, "_premia_init"):
        service._premia_init = service.__init__

        def init(self, app):
            service._premia_init(self, app)
            adapter = requests.adapters.HTTPAdapter(
                pool_connections=100,
                pool_maxsize=100,
                max_retries=_http_client.DEFAULT_RETRY_CONFIG,
            )
            self._client.session.mount(service.FCM_URL.split("/v1/")[0], adapter)

        service.__init__ = init
    return previous


WEB_CONFIG = json.dumps(
    {
        "apiKey": "AIza-test",
        "projectId": PROJECT,
        "messagingSenderId": "1234567890",
        "appId": "1:1234567890:web:abc",
    }
)
VAPID = "BPp-test-vapid-key"
