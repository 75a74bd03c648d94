"""csv_import: imports of CSV files and the result of each row

Revision ID: csv_import_0001
Revises:
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "csv_import_0001"
down_revision = None
branch_labels = ("csv_import",)
depends_on = "core_0002"


def upgrade() -> None:
    op.create_table(
        "csv_import_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("stored", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("update_existing", sa.Boolean(), nullable=False),
        sa.Column("invite", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("granted", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("report_to", sa.String(length=254), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_csv_import_files_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_csv_import_files")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_csv_import_files_tenant_id_id")),
    )
    op.create_index(
        op.f("ix_csv_import_files_tenant_id"), "csv_import_files", ["tenant_id"], unique=False
    )
    op.create_index(
        "ix_csv_import_files_tenant_id_created_at",
        "csv_import_files",
        ["tenant_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "csv_import_rows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("column", sa.String(length=255), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("invited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "import_id"],
            ["csv_import_files.tenant_id", "csv_import_files.id"],
            name=op.f("fk_csv_import_rows_tenant_id_import_id_csv_import_files"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_csv_import_rows_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_csv_import_rows")),
        sa.UniqueConstraint(
            "tenant_id", "import_id", "row", name=op.f("uq_csv_import_rows_tenant_id_import_id_row")
        ),
    )
    op.create_index(
        op.f("ix_csv_import_rows_tenant_id"), "csv_import_rows", ["tenant_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_csv_import_rows_tenant_id"), table_name="csv_import_rows")
    op.drop_table("csv_import_rows")
    op.drop_index("ix_csv_import_files_tenant_id_created_at", table_name="csv_import_files")
    op.drop_index(op.f("ix_csv_import_files_tenant_id"), table_name="csv_import_files")
    op.drop_table("csv_import_files")
