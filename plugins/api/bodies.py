"""Request bodies of the API: small, JSON, and parsed without surprises.

The whole app refuses a body over `PREMIA_MAX_REQUEST_BYTES` (sized for an
image or CSV upload); the API takes JSON only, so its bodies are capped lower,
at `PREMIA_API_MAX_BODY_BYTES`, before anything reads them (413).

`json.loads` fails on some input with errors other than a decoding error: a
RecursionError for arrays nested a thousand deep, a ValueError for an integer
of more than 4,300 digits. It also takes NaN and Infinity, which JSON does not
have. All of these are the client's broken JSON (400 `invalid_json`), never a
server error.
"""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, request
from webargs.core import is_json
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import RequestEntityTooLarge

DEFAULT_MAX_BODY_BYTES = 1024 * 1024  # a customer or a purchase is a few hundred bytes


class InvalidJson(ValueError):
    """A body the JSON parser refuses or cannot take."""


def _no_constant(name: str) -> Any:
    raise InvalidJson(f"{name} is not JSON")


def loads(data: bytes | str) -> Any:
    """Parse a JSON document strictly (InvalidJson for anything json.loads cannot take)."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeError included
        raise InvalidJson(str(error)) from None


def limit_body() -> None:
    """Before an API request reads its body: cap it at the API's own size."""
    request.max_content_length = int(
        current_app.config.get("PREMIA_API_MAX_BODY_BYTES") or DEFAULT_MAX_BODY_BYTES
    )


def read_body() -> bytes:
    """The request's body, read once, 413 if it is over the cap.

    Werkzeug refuses a declared length over the cap unread, but reads a streamed
    (chunked) body up to the cap and stops there without a word: a body that fills
    the cap is taken as one over it, rather than parsed cut short."""
    body = request.get_data(cache=True)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(body) >= limit:
        raise RequestEntityTooLarge()
    return body


def body_or_none() -> Any:
    """The request's JSON body, or None when it has none or it is not JSON."""
    body = read_body()
    if not body:
        return None
    try:
        return loads(body)
    except InvalidJson:
        return None


class JsonParser(FlaskParser):
    """webargs' parser with our JSON loading: broken JSON is a 400, whatever broke."""

    def _raw_load_json(self, req: Any) -> Any:
        body = read_body() if is_json(req.mimetype) else b""
        if not body:
            return super()._raw_load_json(req)  # webargs' "missing"
        try:
            return loads(body)
        except InvalidJson as error:
            self._handle_invalid_json_error(json.JSONDecodeError(str(error), "", 0), req)
