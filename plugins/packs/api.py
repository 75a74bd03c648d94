"""The POS API's `POST /customers/{code}/packs/{pack_id}/uses`: one use of a customer's
pack, as the panel's Packs page (packs.use_pack). Served behind the POS API's door
(`Api.add_plugin_endpoints`): the token's tenant only, scope `points:write`; 403
`feature_not_enabled` where packs are off for the merchant. Its bodies are built of the
door's own fields (`door.schemas`): no plugin imports another."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint

from core.sdk import NotFound, db, get_member
from plugins.packs import packs

WHEN_OFF = _l("Packs are not enabled for this merchant.")


def make_blueprint(door: Any) -> Blueprint:
    """A new blueprint per app, its operations documented as the door's own are."""
    blp = Blueprint("packs_api", __name__, url_prefix="/api/v1")
    kit = door.schemas

    class PackUseSchema(kit.Schema):
        location_id = ma.fields.Integer(strict=True, allow_none=True, validate=kit.ID)

    class PackUseResultSchema(kit.Schema):
        pack = ma.fields.Nested(kit.PackSchema)  # as in a customer's detail
        used_at = ma.fields.DateTime()

    @blp.route("/customers/<string:code>/packs/<int:pack_id>/uses", tags=["purchases"])
    class PackUses(MethodView):
        @blp.arguments(PackUseSchema())
        @blp.response(201, PackUseResultSchema)
        @door.documented("use_pack", 403, 404, 409, body=True, idempotent=True, blueprint=blp)
        def post(self, fields: dict[str, Any], code: str, pack_id: int) -> Any:
            """Record one use of the customer's pack (409 `pack_used_up` or `pack_expired`),
            as the panel's Packs page; 403 `feature_not_enabled` where packs are off."""
            session = db()
            member = get_member(session, code)
            if not 0 < pack_id <= door.MAX_ID:
                raise NotFound(_l("This customer has no such pack."))
            pack = packs.get_pack(session, pack_id)
            if pack.member_id != member.id:
                raise NotFound(_l("This customer has no such pack."))
            use = packs.use_pack(
                session,
                pack,
                actor=door.actor(),
                location_id=door.location(fields.get("location_id")),
                idempotency_key=g.api_key,
            )
            return {"pack": pack, "used_at": use.used_at}

    return blp
