"""The fake FCM the benchmarks send pushes to (bench/push.py, bench/soak.py).

FCM's HTTP v1 send and Google's OAuth2 token endpoint, answering success to all, in a
process of its own: an asyncio server (one thread, keep-alive), so the fake is not
what is measured. It counts the messages per device token (`counts`). The tests' fake
(tests/plugins/push/fake_fcm.py, threaded, with failure modes) writes the service
account key and points firebase-admin at a URL.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import multiprocessing
import os
from collections import Counter
from pathlib import Path


def serve(port_pipe) -> None:
    """Answer until terminated; sends the port it listens on through `port_pipe`.
    GET /counts answers the messages received per device token."""
    token = json.dumps({"access_token": "fake", "expires_in": 3600, "token_type": "Bearer"})
    counts: Counter = Counter()

    async def handle(reader, writer) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length)
                if head.startswith(b"POST /token"):
                    answer = token.encode()
                elif head.startswith(b"GET /counts"):
                    answer = json.dumps(counts).encode()
                else:
                    counts[json.loads(body)["message"]["token"]] += 1
                    answer = b'{"name": "projects/premia-test/messages/%d"}' % sum(counts.values())
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer)
                )
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def run() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=2048)
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


def counts(url: str) -> Counter:
    """The messages the fake received, per device token."""
    conn = http.client.HTTPConnection(url.split("//")[1])
    conn.request("GET", "/counts")
    return Counter(json.loads(conn.getresponse().read()))


def run_worker(*options: str) -> None:
    """`premia worker OPTIONS…` with firebase-admin sending to the fake at BENCH_FCM_URL."""
    from tests.plugins.push.fake_fcm import point_firebase_admin_at

    point_firebase_admin_at(os.environ["BENCH_FCM_URL"])
    from core.cli import main

    main(["worker", *options], standalone_mode=False)
