"""Signatures as the Standard Webhooks specification defines them, checked with its
reference library (what a receiver in Python would run)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from plugins.webhooks import signing


def test_a_new_secret_is_whsec_and_base64_of_32_random_bytes():
    first, second = signing.new_secret(), signing.new_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32


def test_the_signature_is_the_specs_hmac_of_id_timestamp_and_body():
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    body = json.dumps({"type": "points.earned", "data": {"points": 5}})
    expected = hmac.new(b"k" * 32, f"msg_1.1700000000.{body}".encode(), hashlib.sha256)
    assert (
        signing.sign(secret, "msg_1", 1700000000, body)
        == "v1," + base64.b64encode(expected.digest()).decode()
    )


def test_the_reference_library_verifies_our_headers_and_refuses_a_changed_body():
    secret = signing.new_secret()
    body = '{"type":"member.created","data":{"member":{"code":"ABC"}}}'
    headers = signing.headers(secret, signing.new_message_id(), int(time.time()), body)
    assert headers["webhook-id"].startswith("msg_")
    assert Webhook(secret).verify(body, headers) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("ABC", "ABD"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)
