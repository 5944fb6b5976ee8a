"""api keys: long-lived bearer keys bound to roles (stored hashed), with last use, expiry and revocation

Revision ID: 0005
Revises: 0004
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the API-key work


def downgrade() -> None:
    pass
