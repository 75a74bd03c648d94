"""One HTTP POST of a delivery, to the address `safety` checked (never resolved again),
with the URL's host in `Host` and, over TLS, in SNI and the certificate's check; short
timeouts, no redirects followed, and only the first bytes of the answer read."""

from __future__ import annotations

import time
from dataclasses import dataclass

import urllib3
from flask import current_app

from plugins.webhooks import safety

RESPONSE_CAP = 1024  # bytes of the answer kept (and read)
TOTAL = 2  # the answer's bytes are read for at most this many timeouts from the start
USER_AGENT = "Premia-Webhooks/1"


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer
    body: str  # its first bytes, as text
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(url: str, body: str, headers: dict[str, str]) -> Answer:
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        where = safety.target(url)
    except safety.Refused as refused:
        return Answer(None, "", refused.reason, took())
    parts = where.parts
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    host = parts.hostname or ""
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    if ":" in host and parts.port is not None:  # an IPv6 literal
        host_header = f"[{host}]:{parts.port}"
    seconds = current_app.config["PREMIA_WEBHOOKS_TIMEOUT"]
    options = {"timeout": urllib3.Timeout(connect=seconds, read=seconds), "retries": False}
    if https:
        pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
            str(where.address),
            port,
            server_hostname=host,
            assert_hostname=host,
            cert_reqs="CERT_REQUIRED",
            **options,
        )
    else:
        pool = urllib3.HTTPConnectionPool(str(where.address), port, **options)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        with pool:
            response = pool.urlopen(
                "POST",
                path,
                body=body.encode(),
                headers={**headers, "Host": host_header, "User-Agent": USER_AGENT},
                redirect=False,
                assert_same_host=False,
                preload_content=False,
            )
            try:
                first = _first_bytes(response, started + TOTAL * seconds)
            finally:
                response.close()  # the rest is never read: a small cap
    except urllib3.exceptions.HTTPError as error:
        return Answer(None, "", _reason(error), took())
    # Kept as text: PostgreSQL takes no NUL in it.
    text = first.decode("utf-8", "replace").replace("\x00", "\ufffd")
    return Answer(response.status, text, None, took())


def _first_bytes(response: urllib3.BaseHTTPResponse, deadline: float) -> bytes:
    """Up to RESPONSE_CAP bytes of the answer, read until `deadline` at the latest (a
    receiver dripping bytes resets the read timeout at each one)."""
    read = b""
    while len(read) < RESPONSE_CAP and time.monotonic() < deadline:
        try:
            chunk = response.read1(RESPONSE_CAP - len(read))
        except urllib3.exceptions.HTTPError:
            break
        if not chunk:
            break
        read += chunk
    return read


def _reason(error: Exception) -> str:
    reason = getattr(error, "reason", None) or error
    if isinstance(reason, urllib3.exceptions.TimeoutError) or "timed out" in str(reason):
        return "timeout"
    return f"{type(reason).__name__}: {reason}"[:200]
