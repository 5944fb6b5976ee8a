"""completion log: every generation served (id, version, prompt, output, tokens, latency, caller); feedback by completion id

Revision ID: 0004
Revises: 0003
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the completion-log work


def downgrade() -> None:
    pass
