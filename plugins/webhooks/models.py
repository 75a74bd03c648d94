"""The webhooks plugin's tables: the merchant's endpoints, the messages (one per event,
its body fixed once so every retry sends the same bytes under the same id), a delivery
per endpoint and message (its schedule of attempts), and each attempt's log line."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.sdk import Base, TenantOwned, tenant_fk, tenant_key, utcnow


class Endpoint(TenantOwned, Base):
    """A URL of the merchant's systems, the events it wants and the secret its
    deliveries are signed with (`whsec_…`, shown to the merchant once)."""

    __tablename__ = "webhooks_endpoints"
    __table_args__ = (tenant_key(),)

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(String(200), default="")
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(default=True)
    # Why it was switched off: "failing" (the platform, after days of failures) or "staff".
    disabled_reason: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(TenantOwned, Base):
    """One event as sent: its Standard Webhooks id (`msg_…`, the receivers' key to
    de-duplicate), type and body. `key` makes an event published twice one message."""

    __tablename__ = "webhooks_messages"
    __table_args__ = (
        tenant_key(),
        UniqueConstraint("tenant_id", "key"),
        UniqueConstraint("tenant_id", "uid"),  # uids are random: unique anyway
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(120))
    event: Mapped[str] = mapped_column(String(40))
    # Whom it tells about (no foreign key: erased with the person, see `member_erased`).
    member_id: Mapped[int | None] = mapped_column(index=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeliveryStatus:
    PENDING = "pending"  # waiting for its next attempt (`next_at`)
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # retries exhausted, or its endpoint switched off


class Delivery(TenantOwned, Base):
    """A message for one endpoint: at least once, retried with backoff until a 2xx."""

    __tablename__ = "webhooks_deliveries"
    __table_args__ = (
        tenant_key(),
        UniqueConstraint("tenant_id", "endpoint_id", "message_id"),
        tenant_fk("endpoint_id", "webhooks_endpoints", ondelete="CASCADE"),
        tenant_fk("message_id", "webhooks_messages", ondelete="CASCADE"),
        Index("ix_webhooks_deliveries_due", "status", "next_at"),
        Index("ix_webhooks_deliveries_endpoint_id_id", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int]
    message_id: Mapped[int]
    status: Mapped[str] = mapped_column(String(10), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attempt(TenantOwned, Base):
    """One try of a delivery, as the delivery log shows it."""

    __tablename__ = "webhooks_attempts"
    __table_args__ = (
        tenant_fk("delivery_id", "webhooks_deliveries", ondelete="CASCADE"),
        Index("ix_webhooks_attempts_delivery_id", "delivery_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow)
    timestamp: Mapped[int] = mapped_column(BigInteger)  # the webhook-timestamp header sent
    status_code: Mapped[int | None]  # None: no answer (refused, timed out…)
    response: Mapped[str] = mapped_column(Text, default="")  # its first bytes
    error: Mapped[str | None] = mapped_column(String(200))
    duration_ms: Mapped[int] = mapped_column(default=0)
