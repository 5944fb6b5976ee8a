"""alias canary: a candidate serving a sticky share of its alias's traffic while live ratings decide (learning/canary.py)

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("adapter_aliases", schema=None) as b:
        b.add_column(sa.Column("canary_version_id", sa.String(length=32), nullable=True))
        b.add_column(sa.Column("canary_fraction", sa.Float(), nullable=True))
        b.add_column(sa.Column("canary_started_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("adapter_aliases", schema=None) as b:
        b.drop_column("canary_started_at")
        b.drop_column("canary_fraction")
        b.drop_column("canary_version_id")
