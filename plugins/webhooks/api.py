"""The v1 API's webhooks endpoints (scope `webhooks:write`): endpoints listed, created
(the secret answered once), read, changed, deleted, tested; their delivery log and a
re-send. Served behind the POS API's door (`Api.add_plugin_endpoints`): the token's
tenant only, so another merchant's endpoint id answers 404."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint
from sqlalchemy import select

from core.sdk import db
from plugins.webhooks import endpoints, jobs, outbox
from plugins.webhooks.events import EVENTS
from plugins.webhooks.models import Delivery

TAG = "webhooks"
ABOUT = (
    "Endpoints of your own systems that receive signed events (Standard Webhooks); "
    "the events and their bodies are in this document's `x-webhooks`, and in full in "
    "/api/v1/webhooks/openapi.json (OpenAPI 3.1 `webhooks`)."
)
ERROR = "ApiError"  # the POS API's error schema (a component of its document)


class Strict(ma.fields.Boolean):
    def _deserialize(self, value: object, attr: object, data: object, **kwargs: object) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


def _events_field(**kwargs: Any) -> ma.fields.List:
    return ma.fields.List(
        ma.fields.String(
            validate=ma.validate.OneOf(sorted(EVENTS), error=_l("Unknown event.")),
        ),
        validate=ma.validate.Length(min=1, max=len(EVENTS), error=_l("Choose at least one event.")),
        metadata={"description": "The events it receives: " + ", ".join(sorted(EVENTS))},
        **kwargs,
    )


# What the fields refuse, said in the document (ECMA and Python read these alike), so that a
# generated client or Schemathesis knows it: an address the service takes, and text
# without control characters.
HOST = r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?"
PORT = r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
REST = rf"(?::{PORT})?(?:[/?][-!$&'()*+,./0-9:;=?@A-Z_a-z~%]*)?"
TEXT = r"^[^\x00-\x1f\x7f]*$"


def _url_field(https_only: bool, **kwargs: Any) -> ma.fields.String:
    scheme = "https" if https_only else "https?"
    return ma.fields.String(
        validate=[
            ma.validate.Length(min=1, max=endpoints.URL_MAX),
            ma.validate.Regexp(
                rf"^{scheme}://{HOST}{REST}$",
                error=_l("Write a full address, such as https://example.com/hooks."),
            ),
        ],
        metadata={"description": "The address of your receiver (https:// in production)."},
        **kwargs,
    )


def _description_field() -> ma.fields.String:
    return ma.fields.String(
        validate=[
            ma.validate.Length(max=endpoints.DESCRIPTION_MAX),
            ma.validate.Regexp(TEXT, error=_l("Text cannot contain control characters.")),
        ]
    )


def input_schemas(https_only: bool) -> tuple[type[ma.Schema], type[ma.Schema]]:
    """The bodies of a new endpoint and of a change, for this platform's URL rule."""

    class EndpointCreateSchema(ma.Schema):
        class Meta:
            ordered = True
            unknown = ma.RAISE

        url = _url_field(https_only, required=True)
        events = _events_field(required=True)
        description = _description_field()

    class EndpointPatchSchema(ma.Schema):
        class Meta:
            ordered = True
            unknown = ma.RAISE

        url = _url_field(https_only)
        events = _events_field()
        description = _description_field()
        enabled = Strict()

        @ma.validates_schema
        def not_empty(self, data: dict, **_kwargs: object) -> None:
            if not data:
                raise ma.ValidationError(_l("Give at least one field to change."))

    return EndpointCreateSchema, EndpointPatchSchema


class EndpointSchema(ma.Schema):
    class Meta:
        ordered = True

    id = ma.fields.Integer()
    url = ma.fields.String()
    description = ma.fields.String()
    events = ma.fields.List(ma.fields.String())
    enabled = ma.fields.Boolean()
    disabled_reason = ma.fields.String(
        allow_none=True, metadata={"description": "failing (switched off by Premia) or staff"}
    )
    created_at = ma.fields.DateTime()


class NewEndpointSchema(EndpointSchema):
    secret = ma.fields.String(
        metadata={"description": "whsec_…: verify signatures with it. Shown only this once."}
    )


class AttemptSchema(ma.Schema):
    class Meta:
        ordered = True

    at = ma.fields.DateTime()
    status_code = ma.fields.Integer(allow_none=True)
    response = ma.fields.String(metadata={"description": "The answer's first bytes."})
    error = ma.fields.String(allow_none=True)
    duration_ms = ma.fields.Integer()


class DeliverySchema(ma.Schema):
    class Meta:
        ordered = True

    id = ma.fields.Integer()
    message_id = ma.fields.String(metadata={"description": "The webhook-id header."})
    event = ma.fields.String()
    body = ma.fields.String()
    status = ma.fields.String(metadata={"description": "pending, succeeded or failed"})
    attempts = ma.fields.List(ma.fields.Nested(AttemptSchema))
    next_at = ma.fields.DateTime(allow_none=True)
    created_at = ma.fields.DateTime()


class QueuedSchema(ma.Schema):
    message_id = ma.fields.String()
    delivery_id = ma.fields.Integer()


def _delivery_data(line: endpoints.LogLine) -> dict[str, Any]:
    return {
        "id": line.delivery.id,
        "message_id": line.message.uid,
        "event": line.message.event,
        "body": line.message.body,
        "status": line.delivery.status,
        "attempts": line.attempts,
        "next_at": line.delivery.next_at,
        "created_at": line.delivery.created_at,
    }


DESCRIPTIONS = {
    400: "invalid_json: the body is not JSON the API can read",
    401: "unauthorized",
    403: "forbidden (missing_scope: the token lacks webhooks:write)",
    404: "not found",
    409: "idempotency_key_reused: the Idempotency-Key came with another request",
    413: "too_large: the body is over the limit",
    422: "invalid input",
    429: "too_many_requests",
}


def make_blueprint(door: Any, https_only: bool) -> Blueprint:
    """A new blueprint per app: the POS API's door adds its handlers to it. Operations
    are documented as the door's own are (errors, `Idempotency-Key`, `Retry-After`)."""
    blp = Blueprint("webhooks_api", __name__, url_prefix="/api/v1/webhooks")
    EndpointCreateSchema, EndpointPatchSchema = input_schemas(https_only)

    def documented(operation_id: str, *statuses: int, body: bool = False, post: bool = False):
        statuses = (*statuses, *((400, 413, 422) if body else ()), *((409, 422) if post else ()))

        def decorate(view: Any) -> Any:
            for status in sorted({*statuses, 401, 403, 429}):
                view = blp.alt_response(
                    status,
                    schema=ERROR,
                    description=DESCRIPTIONS[status],
                    headers=door.RETRY_AFTER if status == 429 else None,
                )(view)
            doc: dict[str, Any] = {"operationId": operation_id}
            if post:
                doc["parameters"] = [door.IDEMPOTENCY_KEY]
            return blp.doc(**doc)(view)

        return decorate

    @blp.route("/endpoints", tags=[TAG])
    class Endpoints(MethodView):
        @blp.response(200, EndpointSchema(many=True))
        @documented("list_webhook_endpoints")
        def get(self) -> Any:
            """The merchant's webhook endpoints (scope `webhooks:write`)."""
            return endpoints.list_all(db())

        @blp.arguments(EndpointCreateSchema())
        @blp.response(201, NewEndpointSchema)
        @documented("create_webhook_endpoint", body=True, post=True)
        def post(self, fields: dict[str, Any]) -> Any:
            """A new endpoint, switched on; its `secret` is answered this once."""
            return endpoints.create(
                db(), fields["url"], fields["events"], fields.get("description")
            )

    @blp.route("/endpoints/<int:endpoint_id>", tags=[TAG])
    class OneEndpoint(MethodView):
        @blp.response(200, EndpointSchema)
        @documented("get_webhook_endpoint", 404)
        def get(self, endpoint_id: int) -> Any:
            """One endpoint."""
            return endpoints.get(db(), endpoint_id)

        @blp.arguments(EndpointPatchSchema())
        @blp.response(200, EndpointSchema)
        @documented("update_webhook_endpoint", 404, body=True)
        def patch(self, changes: dict[str, Any], endpoint_id: int) -> Any:
            """Change its URL, events or description, or switch it on or off (switched off,
            its deliveries still waiting are given up)."""
            return endpoints.change(db(), endpoint_id, **changes)

        @blp.response(204)
        @documented("delete_webhook_endpoint", 404)
        def delete(self, endpoint_id: int) -> Any:
            """Delete it with its delivery log."""
            endpoints.delete(db(), endpoint_id)
            return None

    @blp.route("/endpoints/<int:endpoint_id>/test", tags=[TAG])
    class TestEvent(MethodView):
        @blp.response(202, QueuedSchema)
        @documented("test_webhook_endpoint", 404, post=True)
        def post(self, endpoint_id: int) -> Any:
            """Send it a `webhook.test` event now."""
            session = db()
            endpoint = endpoints.get(session, endpoint_id)
            message = outbox.send_test(session, endpoint)
            delivery = session.scalars(
                select(Delivery).where(Delivery.message_id == message.id)
            ).one()
            return {"message_id": message.uid, "delivery_id": delivery.id}

    @blp.route("/endpoints/<int:endpoint_id>/deliveries", tags=[TAG])
    class Deliveries(MethodView):
        @blp.response(200, DeliverySchema(many=True))
        @documented("list_webhook_deliveries", 404)
        def get(self, endpoint_id: int) -> Any:
            """Its latest 50 deliveries, newest first, each with its attempts."""
            session = db()
            endpoint = endpoints.get(session, endpoint_id)
            return [_delivery_data(line) for line in endpoints.log(session, endpoint)]

    @blp.route("/endpoints/<int:endpoint_id>/deliveries/<int:delivery_id>/resend", tags=[TAG])
    class Resend(MethodView):
        @blp.response(202, QueuedSchema)
        @documented("resend_webhook_delivery", 404, post=True)
        def post(self, endpoint_id: int, delivery_id: int) -> Any:
            """Send a delivery again, with the same `webhook-id`."""
            session = db()
            delivery = endpoints.delivery(session, endpoint_id, delivery_id)
            jobs.resend(session, delivery)
            return {
                "message_id": endpoints.message_uid(session, delivery),
                "delivery_id": delivery.id,
            }

    return blp
