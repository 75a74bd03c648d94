"""The push tests' fixtures: the fake FCM (and token endpoint) with a service account key
of the test's making, the app configured with them, a white-label merchant, devices."""

from __future__ import annotations

import pytest
from firebase_admin import messaging

from plugins.push import firebase
from plugins.push.models import Device
from tests.plugins.push.fake_fcm import VAPID, WEB_CONFIG, FakeFcm, point_firebase_admin_at


@pytest.fixture(scope="session")
def fcm(tmp_path_factory):
    fake = FakeFcm().start()
    fake.key = fake.write_key(tmp_path_factory.mktemp("fcm"))
    previous = point_firebase_admin_at(fake.url)
    yield fake
    messaging._MessagingService.FCM_URL = previous
    fake.stop()


FIREBASE = {
    "PREMIA_FIREBASE_WEB_CONFIG": WEB_CONFIG,
    "PREMIA_FIREBASE_VAPID_KEY": VAPID,
}


@pytest.fixture
def app(make_app, fcm, monkeypatch):
    fcm.reset()
    monkeypatch.setattr(firebase, "RETRY_DELAYS", (0.01, 0.02, 0.04))
    application = make_app(PREMIA_FIREBASE_CREDENTIALS=str(fcm.key), **FIREBASE)
    with application.app_context():
        yield application


@pytest.fixture
def shop(make_tenant):
    return make_tenant(slug="cafe", plan="white-label", timezone="America/Bogota")


@pytest.fixture
def add_devices(db):
    def add(tenant, member, *tokens: str) -> list[int]:
        with db(tenant) as session:
            devices = [Device(member_id=member.id, token=token) for token in tokens]
            session.add_all(devices)
            session.commit()
            return [device.id for device in devices]

    return add
