"""Bodies the API refuses before its views: too large (413) or JSON the parser cannot take (400)."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from core.loyalty.members import Membership

from .test_views import create_customer


class CountingStream(io.RawIOBase):
    """A body of `size` spaces that counts how many of them the server read."""

    def __init__(self, size: int) -> None:
        self.size, self.position, self.read_bytes = size, 0, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:  # the test client measures the stream
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = {0: 0, 1: self.position, 2: self.size}[whence] + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self.size - self.position)
        buffer[:count] = b" " * count
        self.position += count
        self.read_bytes += count
        return count


def test_a_body_over_the_apis_limit_is_refused_unread(app, client, token):
    limit = app.config["PREMIA_API_MAX_BODY_BYTES"]
    body = CountingStream(100 * 1024 * 1024)
    answer = client.post(
        "/api/v1/customers",
        input_stream=body,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Content-Length": str(body.size),
            "Idempotency-Key": "big-1",
        },
    )
    assert answer.status_code == 413
    assert answer.json == {
        "status": 413,
        "reason": "too_large",
        "message": "La solicitud es demasiado grande.",
    }
    assert body.read_bytes == 0  # refused on its declared length
    assert limit < app.config["PREMIA_MAX_REQUEST_BYTES"]


def test_a_chunked_body_is_cut_at_the_limit(app, client, token, shop, db):
    limit = app.config["PREMIA_API_MAX_BODY_BYTES"]
    body = CountingStream(100 * 1024 * 1024)
    answer = client.post(
        "/api/v1/customers",
        input_stream=body,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Transfer-Encoding": "chunked",
        },
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert answer.status_code == 413, (answer.json, body.read_bytes)
    assert answer.json["reason"] == "too_large"
    assert body.read_bytes <= limit + 64 * 1024  # read up to the limit, not the 100 MB
    with db(shop) as session:
        assert session.scalar(select(func.count()).select_from(Membership)) == 0


def test_a_body_under_the_limit_is_read(call, token):
    padding = " " * 500_000  # JSON allows the whitespace; the body is just large
    answer = call(
        "POST",
        "/customers",
        token,
        data='{"email": "ana@example.com",'
        ' "first_name": "Ana",' + padding + '"last_name": "Núñez"}',
    )
    assert answer.status_code == 201, answer.json


@pytest.mark.parametrize(
    "data",
    [
        "[" * 1000 + "]" * 1000,  # RecursionError in json.loads
        '{"points": ' + "9" * 5000 + "}",  # ValueError: int digits limit
        '{"amount": NaN}',  # not JSON, though json.loads takes it
        '{"amount": Infinity}',
        '{"points": -Infinity}',
        b'{"points": "\xff"}',  # not UTF-8
    ],
)
def test_json_the_parser_cannot_take_is_invalid_json(call, token, data):
    code = create_customer(call, token)["code"]
    for key in (None, "k-broken"):  # with a key, the body is read once more for the fingerprint
        answer = call("POST", f"/customers/{code}/points", token, data=data, key=key)
        assert answer.status_code == 400, answer.data[:200]
        assert answer.json["reason"] == "invalid_json"
        assert answer.json["message"] == "El cuerpo no es un JSON válido."
