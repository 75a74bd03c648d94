"""The events in OpenAPI: a 3.1 document whose `webhooks` section holds every event
(its body's schema, an example, the Standard Webhooks headers), served at
/api/v1/webhooks/openapi.json; the same operations are in the POS API's 3.0 document
as `x-webhooks` (3.0 has no `webhooks`; Redoc reads the extension)."""

from __future__ import annotations

from typing import Any

from apispec import APISpec

from plugins.webhooks.events import EVENTS, TEST, Event

HEADERS = (
    ("webhook-id", "The message's id (`msg_…`): the same on every retry; de-duplicate on it."),
    ("webhook-timestamp", "When this attempt was signed, Unix seconds."),
    (
        "webhook-signature",
        "`v1,` + base64 of HMAC-SHA256(key: the secret's base64-decoded bytes after "
        "`whsec_`, message: `{webhook-id}.{webhook-timestamp}.{body}`).",
    ),
)
INTRODUCTION = """\
Events Premia POSTs to the endpoints a merchant configures (panel: Configuración →
Webhooks; API: `/api/v1/webhooks/endpoints`, scope `webhooks:write`), signed as the
Standard Webhooks specification says (https://www.standardwebhooks.com). Answer any 2xx
within a few seconds; anything else is retried with exponential backoff for about three
days, with the same `webhook-id`. Redirects are not followed.
"""


def body_schema(event: Event) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", "timestamp", "data"],
        "properties": {
            "type": {"type": "string", "const": event.name},
            "timestamp": {"type": "string", "format": "date-time"},
            "data": event.data,
        },
    }


def operation(event: Event) -> dict[str, Any]:
    example = {"type": event.name, "timestamp": "2026-12-05T14:30:01Z", "data": event.example}
    return {
        "post": {
            "operationId": f"webhook_{event.name.replace('.', '_')}",
            "summary": event.name,
            "description": event.description,
            "tags": ["webhooks"],
            "security": [],
            "parameters": [
                {
                    "in": "header",
                    "name": name,
                    "required": True,
                    "description": text,
                    "schema": {"type": "string"},
                }
                for name, text in HEADERS
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": body_schema(event), "example": example}},
            },
            "responses": {
                "2XX": {"description": "Received; any other answer is retried."},
            },
        }
    }


def webhooks() -> dict[str, Any]:
    return {name: operation(event) for name, event in (*EVENTS.items(), (TEST.name, TEST))}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the events."""
    spec = APISpec(
        title="Premia webhooks",
        version="1",
        openapi_version="3.1.0",
        info={"description": INTRODUCTION},
    )
    body = spec.to_dict()
    body["paths"] = {}
    body["webhooks"] = webhooks()
    return body
