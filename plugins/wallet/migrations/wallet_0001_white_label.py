"""wallet: the white-label seed plan allows wallet passes (the plugin keeps no tables)

Revision ID: wallet_0001
Revises:
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "wallet_0001"
down_revision = None
branch_labels = ("wallet",)
depends_on = "core_0001"

PLANS = ("white-label",)  # PluginInfo.plans: the seed plans that include it


def upgrade() -> None:
    # Where the seed plan exists and does not allow it yet (an operator may have).
    for code in PLANS:
        op.execute(
            sa.text(
                "INSERT INTO plan_plugins (plan_id, plugin) "
                "SELECT id, 'wallet' FROM plans WHERE code = :code AND NOT EXISTS ("
                "SELECT 1 FROM plan_plugins p WHERE p.plan_id = plans.id AND p.plugin = 'wallet')"
            ).bindparams(code=code)
        )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM plan_plugins WHERE plugin = 'wallet'"))
