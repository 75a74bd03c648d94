"""Errors as the API answers them: status, a stable reason, a message in the
merchant's language, and per-field errors for invalid input."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

# Marshmallow's and webargs' own messages (the few our schemas do not replace).
LIBRARY_MESSAGES = {
    "Missing data for required field.": _l("This field is required."),
    "Field may not be null.": _l("This field cannot be null."),
    "Not a valid integer.": _l("Give a whole number."),
    "Not a valid number.": _l("Give a number."),
    "Not a valid decimal.": _l("Give a number."),
    "Not a valid string.": _l("Give text."),
    "Not a valid email address.": _l("Give a valid e-mail address."),
    "Not a valid date.": _l("Give a date as YYYY-MM-DD."),
    "Not a valid boolean.": _l("Give true or false."),
    "Not a valid mapping type.": _l("Give an object."),
    "Invalid input type.": _l("Invalid input type."),
    "Invalid value.": _l("Invalid value."),
    "Unknown field.": _l("Unknown field."),
    "Special numeric values (nan or infinity) are not permitted.": _l("Give a finite number."),
    "Invalid JSON body.": _l("The body is not valid JSON."),
}

STATUS_MESSAGES = {
    400: ("bad_request", _l("The request could not be understood.")),
    401: ("unauthorized", _l("A valid API token is required.")),
    403: ("forbidden", _l("This token may not do this.")),
    404: ("not_found", _l("Not found.")),
    405: ("method_not_allowed", _l("This method is not allowed here.")),
    409: ("conflict", _l("This conflicts with the current state.")),
    413: ("too_large", _l("The request is too large.")),
    415: ("unsupported_media_type", _l("Send the body as JSON.")),
    422: ("invalid", _l("Some fields are not valid.")),
    429: ("too_many_requests", _l("Too many requests; retry later.")),
}


def translate(message: Any) -> str:
    text = str(message)
    known = LIBRARY_MESSAGES.get(text)
    return str(known) if known is not None else text


def flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """webargs' {"json": {"field": ["…"], "nested": {"0": {…}}}} as
    {"field": […], "nested.0.field": […]}, translated."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            if not prefix and key in {"json", "query", "headers", "form", "view_args"}:
                flat.update(flatten(value, ""))
                continue
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "_schema":
                name = prefix or "body"
            flat.update(flatten(value, name))
    elif isinstance(messages, (list, tuple)):
        if all(not isinstance(m, (dict, list, tuple)) for m in messages):
            flat.setdefault(prefix or "body", []).extend(translate(m) for m in messages)
        else:
            for item in messages:
                flat.update(flatten(item, prefix))
    else:
        flat.setdefault(prefix or "body", []).append(translate(messages))
    return flat


def error_response(
    status: int,
    reason: str | None = None,
    message: Any = None,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    default_reason, default_message = STATUS_MESSAGES.get(status, ("error", _l("Error.")))
    body: dict[str, Any] = {
        "status": status,
        "reason": reason or default_reason,
        "message": str(message or default_message),
    }
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def http_error(error: HTTPException) -> Any:
    """flask-smorest's and Werkzeug's errors, in our shape."""
    data = getattr(error, "data", None) or {}
    messages = data.get("messages")
    errors = flatten(messages) if messages else None
    status = error.code or 500
    headers = dict(data.get("headers") or {})
    if isinstance(error, MethodNotAllowed) and error.valid_methods:  # flask-smorest drops it
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    if errors and status == 400:  # broken JSON: webargs says 400, we say what broke
        return error_response(400, "invalid_json", _l("The body is not valid JSON."), errors)
    return error_response(status, errors=errors, headers=headers)


def routing_errors(app: Any) -> None:
    """An unknown path or method under /api/ (no view, so no blueprint handler) answers
    in our shape too; elsewhere the handler the app had before answers."""
    spec = app.error_handler_spec[None]
    for code, cls in ((404, NotFound), (405, MethodNotAllowed)):
        previous = spec.get(code, {}).get(cls) or spec.get(None, {}).get(HTTPException)

        def answer(error: HTTPException, previous: Any = previous) -> Any:
            if request.path.startswith("/api/") or previous is None:
                return http_error(error)
            return previous(error)

        app.register_error_handler(cls, answer)
