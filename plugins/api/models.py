"""The API's own tables: tokens, and the answers kept for idempotent retries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.sdk import Base, TenantOwned, Versioned, tenant_key, utcnow


class ApiToken(Versioned, TenantOwned, Base):
    """A secret a POS or ERP presents as `Authorization: Bearer <token>`.

    Only the SHA-256 of the token is stored (a token is 256 random bits, so a
    slow password hash would add nothing but latency to every request); the
    first characters are kept to tell tokens apart in lists."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        tenant_key(),
        UniqueConstraint("tenant_id", "token_hash"),
        # Looked up by hash before the tenant is known (256 random bits never collide).
        Index("ix_api_tokens_token_hash", "token_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(400))  # space-separated
    created_by: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    # Kept by each process with its tenant (token_cache); its last use is no reason to
    # read it again.
    unversioned = ("last_used_at",)

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())


class IdempotentResponse(TenantOwned, Base):
    """The first answer to a request carrying an `Idempotency-Key`, replayed to retries."""

    __tablename__ = "api_idempotent_responses"
    __table_args__ = (
        UniqueConstraint("tenant_id", "key"),
        Index("ix_api_idempotent_responses_created_at", "created_at"),
        {"info": {"no_tenant_key": "forgotten after 48 hours (`forget_old`)"}},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))  # method, path and body
    status: Mapped[int]
    # The answer as sent; or, for an earn written in one statement, the purchase its
    # answer is rendered from (`idempotency.replay`).
    body: Mapped[dict | None] = mapped_column(JSON)
    purchase_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # No key to `tenants` (api_0003): checked on every sale with a key, it locked the
    # merchant's row for every concurrent sale; an answer is forgotten after 48 hours.
    tenant_id: Mapped[int] = mapped_column(index=True)
