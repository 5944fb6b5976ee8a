"""learning cycle reason code: why a cycle ended as a fixed code next to the sentence (learning/states.py CycleReason)

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("learning_cycles", schema=None) as b:
        b.add_column(sa.Column("reason_code", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("learning_cycles", schema=None) as b:
        b.drop_column("reason_code")
