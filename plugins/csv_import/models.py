"""An import of a CSV file (customers or bulk points) and the result of each of its rows.

The file itself stays in the tenant's upload folder while the import lives: the job
streams it, and the result CSV is the file again with each row's status beside it.
Each row's result is written in the same transaction as what the row did, so a job
killed halfway resumes after the last row it committed and does no row twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.sdk import Base, TenantOwned, tenant_fk, tenant_key, utcnow

CUSTOMERS = "customers"
POINTS = "points"

# An import's life: previewed (the merchant checks the columns), queued, running, done.
PREVIEW, QUEUED, RUNNING, DONE = "preview", "queued", "running", "done"

# A row's result.
CREATED, UPDATED, GRANTED, REFUSED, SKIPPED = "created", "updated", "granted", "refused", "skipped"


class Import(TenantOwned, Base):
    __tablename__ = "csv_import_files"
    __table_args__ = (
        tenant_key(),
        Index("ix_csv_import_files_tenant_id_created_at", "tenant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # CUSTOMERS or POINTS
    filename: Mapped[str] = mapped_column(String(255))  # as uploaded, shown to the merchant
    stored: Mapped[str] = mapped_column(String(255))  # the file's name in the upload folder
    digest: Mapped[str] = mapped_column(String(64))  # sha256 of the file: its rows' ledger keys
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # field → column index
    update_existing: Mapped[bool] = mapped_column(default=False)
    invite: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(10), default=PREVIEW)
    total: Mapped[int] = mapped_column(default=0)
    done: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    granted: Mapped[int] = mapped_column(default=0)
    refused: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    staff_id: Mapped[int | None]  # the uploader (no foreign key: staff leave), None from the CLI
    report_to: Mapped[str | None] = mapped_column(String(254))  # the uploader's e-mail
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class ImportRow(TenantOwned, Base):
    __tablename__ = "csv_import_rows"
    __table_args__ = (
        tenant_fk("import_id", "csv_import_files", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "import_id", "row"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int]
    row: Mapped[int]  # as a spreadsheet numbers it: the header is 1
    status: Mapped[str] = mapped_column(String(10))
    column: Mapped[str | None] = mapped_column(String(255))  # the refused cell's header
    message: Mapped[str | None] = mapped_column(Text)  # in the merchant's language
    member_id: Mapped[int | None]  # the member created, updated or credited (invitations)
    invited_at: Mapped[datetime | None]  # the invitation e-mail of a created member was queued
