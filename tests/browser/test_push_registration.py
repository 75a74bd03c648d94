"""A member's phone turns push notifications on: no offer on a first visit; after their
first points the app offers it, the browser grants it, the real Firebase JS SDK (served
by the app) registers the phone with our service worker, and the token reaches the
server. Firebase's registration services are answered by the test (Playwright routes);
the browser's push service, which Chromium cannot reach here, by a stand-in of
`PushManager.subscribe`. Screenshot: build/screenshots/push-offer.png."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from core.host.actors import Actor
from core.host.db import platform_session, tenant_session
from core.loyalty import ledger
from plugins.push.models import Device
from tests.browser.conftest import PHONE, csp_violations, shoot
from tests.plugins.push.fake_fcm import WEB_CONFIG


def _vapid_key() -> str:
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    raw = public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
def app(make_app):
    application = make_app(
        SERVER_NAME=None,
        PREMIA_FIREBASE_WEB_CONFIG=WEB_CONFIG,
        PREMIA_FIREBASE_VAPID_KEY=_vapid_key(),
    )
    with application.app_context():
        yield application


# The browser's own push service (FCM behind Chromium) is out of reach in a test: a
# subscription of the shape the Push API returns stands in for it.
PUSH_SERVICE = """
(() => {
  const key = (n) => new Uint8Array(n).map((_, i) => (i * 7 + 3) % 256).buffer;
  const subscription = {
    endpoint: "https://fcm.googleapis.com/fcm/send/test-endpoint",
    expirationTime: null,
    options: {},
    getKey: (name) => key(name === "p256dh" ? 65 : 16),
    toJSON() { return { endpoint: this.endpoint, keys: { p256dh: "x", auth: "y" } }; },
    unsubscribe: async () => true,
  };
  let subscribed = false;
  const manager = PushManager.prototype;
  manager.subscribe = async () => { subscribed = true; return subscription; };
  manager.getSubscription = async () => (subscribed ? subscription : null);
  manager.permissionState = async () => "granted";
})();
"""


REGISTRATIONS: list[tuple[str | None, dict]] = []


def answer_firebase(route, request) -> None:
    url = request.url
    if "firebaseinstallations.googleapis.com" in url:
        body = {
            "name": "projects/premia-test/installations/fid-1",
            "fid": "fid-1",
            "refreshToken": "refresh-1",
            "authToken": {"token": "installation-auth-1", "expiresIn": "604800s"},
        }
    elif "fcmregistrations.googleapis.com" in url and request.method == "POST":
        # Checked by the test afterwards: a handler that raised would leave it hanging.
        REGISTRATIONS.append(
            (
                request.headers.get("x-goog-firebase-installations-auth"),
                json.loads(request.post_data),
            )
        )
        body = {"token": "fcm-registration-token-from-the-sdk"}
    else:
        body = {}
    route.fulfill(status=200, content_type="application/json", body=json.dumps(body))


def devices(app, shop) -> list[tuple[int, str]]:
    with tenant_session(app.extensions["premia"].sessions, shop.id) as session:
        return [(d.member_id, d.token) for d in session.scalars(select(Device))]


def test_the_phones_token_reaches_the_server_after_the_first_points(
    app, live_server, browser, make_tenant, make_member
):
    from core.customer_app.sessions import COOKIE, log_in
    from core.loyalty.members import Customer

    shop = make_tenant(slug="cafe", name="Café Central", plan="white-label")
    ana = make_member(shop, "ana@mail.example")
    with app.test_request_context(), platform_session(app.extensions["premia"].sessions) as s:
        from flask import g

        log_in(s, s.get(Customer, ana.customer_id))
        s.commit()
        cookie = g.customer_cookie

    phone = browser.new_context(**PHONE, locale="es-CO")
    phone.add_cookies([{"name": COOKIE, "value": cookie, "url": live_server.url}])
    phone.add_init_script(PUSH_SERVICE)
    phone.route("https://*.googleapis.com/**", answer_firebase)
    REGISTRATIONS.clear()
    violations = csp_violations(phone)
    page = phone.new_page()
    page.goto(live_server.url + "/t/cafe/app/")
    page.wait_for_load_state("networkidle")
    assert page.locator(".push-offer").count() == 0  # a first visit: nothing asked

    with tenant_session(app.extensions["premia"].sessions, shop.id) as session:
        ledger.earn(session, ledger.lock_member(session, ana.id), points=50, actor=Actor.system())
        session.commit()
    page.reload()
    offer = page.locator(".push-offer")
    offer.wait_for()
    assert page.get_by_text("¿Quieres un aviso en este celular cuando recibas puntos?").is_visible()
    shoot(page, "push-offer")
    phone.grant_permissions(["notifications"], origin=live_server.url)
    page.get_by_role("button", name="Activar notificaciones").click()
    for _ in range(300):  # the SDK's round trips, on a busy machine
        if devices(app, shop):
            break
        page.wait_for_timeout(100)  # (Playwright answers the routes while it waits)
    assert devices(app, shop) == [(ana.id, "fcm-registration-token-from-the-sdk")]
    (auth, sent), *_ = REGISTRATIONS
    assert auth == "FIS installation-auth-1"  # the installation the SDK made
    assert sent["web"]["endpoint"] == "https://fcm.googleapis.com/fcm/send/test-endpoint"
    worker = page.evaluate(
        "navigator.serviceWorker.getRegistration().then(r => r.active.scriptURL)"
    )
    assert worker.endswith("/t/cafe/app/sw.js")  # the app's own worker, not Firebase's
    assert violations == []
    phone.close()
