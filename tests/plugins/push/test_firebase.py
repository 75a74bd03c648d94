"""Firebase set-up at start-up: the firebase-admin app of every configured service account
key is made before a worker forks its job processes; a key that cannot be used is logged
and the start goes on; requests reads the proxy environment once, by its own rules; the
connections `send_each`'s threads open to FCM are kept, none thrown away."""

from __future__ import annotations

import logging
import threading

from firebase_admin import messaging

from plugins.push import firebase

PROXY_NAMES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY")


def test_the_start_up_makes_the_app_of_each_configured_key(make_app, fcm, tmp_path, monkeypatch):
    brand = tmp_path / "brand"
    brand.mkdir()
    brand_key = fcm.write_key(brand)
    monkeypatch.setenv("PREMIA_FIREBASE_CREDENTIALS__CAFE_SOL", str(brand_key))
    made = []
    real = firebase.app_for

    def recording(path):
        made.append(path)
        return real(path)

    monkeypatch.setattr(firebase, "app_for", recording)
    make_app(PREMIA_FIREBASE_CREDENTIALS=str(fcm.key))
    assert sorted(made) == sorted([str(fcm.key), str(brand_key)])
    # Made once per process: the job finds the very same app.
    assert real(str(brand_key)) is real(str(brand_key))


def test_a_key_that_cannot_be_used_is_logged_and_the_app_starts(make_app, tmp_path, caplog):
    broken = tmp_path / "service-account.json"
    broken.write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="plugins.push.firebase"):
        app = make_app(PREMIA_FIREBASE_CREDENTIALS=str(broken))
    assert app is not None
    assert "not usable" in caplog.text and str(broken) in caplog.text
    assert firebase.warm({"PREMIA_FIREBASE_CREDENTIALS": str(tmp_path / "none.json")}) == []


def test_the_proxy_environment_is_read_once_by_requests_rules(fcm, tmp_path, monkeypatch):
    for name in PROXY_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", "http://proxy.example:3128")
    key = fcm.write_key(tmp_path)  # a key of its own: a new app, made now
    session = messaging._get_messaging_service(firebase.app_for(str(key)))._client.session
    assert session.trust_env is False  # not looked up again for each message
    assert session.proxies["http"] == "http://proxy.example:3128"  # FCM's is http here


def test_an_address_the_environment_exempts_gets_no_proxy(fcm, tmp_path, monkeypatch):
    for name in PROXY_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", "http://proxy.example:3128")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    key = fcm.write_key(tmp_path)
    session = messaging._get_messaging_service(firebase.app_for(str(key)))._client.session
    assert session.trust_env is False
    assert "http" not in session.proxies


def test_a_batch_asks_the_token_endpoint_once(fcm, tmp_path):
    key = fcm.write_key(tmp_path)  # a new app, with no token yet (a job's first batch)
    app = firebase.app_for(str(key))
    before = fcm.tokens_issued
    targets = [(n, f"once-{n}") for n in range(100)]
    outcome = firebase.send_batch(app, targets, {"title": "Hola", "body": "Hoy"})
    assert sorted(outcome.sent) == list(range(100))
    assert fcm.tokens_issued == before + 1  # not one per message's thread


def test_a_batch_keeps_every_connection_its_threads_open(fcm, tmp_path, caplog):
    key = fcm.write_key(tmp_path)
    app = firebase.app_for(str(key))
    content = {"title": "Hola", "body": "Hoy"}
    # 300 answered only once all 300 wait: each of send_each's threads holds a connection
    # at once, as with FCM's latency; a pool of firebase-admin's 100 kept 100 of them.
    fcm.together = threading.Barrier(300)
    first = firebase.send_batch(app, [(n, f"together-{n}") for n in range(300)], content)
    assert sorted(first.sent) == list(range(300))
    opened = fcm.connections
    with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
        again = firebase.send_batch(app, [(n, f"together-{n}") for n in range(300)], content)
    assert sorted(again.sent) == list(range(300))
    assert fcm.connections == opened  # the second batch found all 300 in the pool
    assert "pool is full" not in caplog.text


def test_the_pool_keeps_firebase_admins_retries(fcm, tmp_path):
    key = fcm.write_key(tmp_path)
    service = messaging._get_messaging_service(firebase.app_for(str(key)))
    adapter = service._client.session.get_adapter(service._fcm_url)
    assert adapter._pool_maxsize == firebase.BATCH
    assert 503 in adapter.max_retries.status_forcelist  # FCM's 503s retried, with backoff
