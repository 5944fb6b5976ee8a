"""feedback idempotency: who sent a sample and the request's Idempotency-Key, so a retried request is answered as stored

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feedback", schema=None) as b:
        b.add_column(sa.Column("caller", sa.String(length=128), nullable=True))
        b.add_column(sa.Column("idempotency_key", sa.String(length=160), nullable=True))
        b.create_index("ix_feedback_caller_idempotency", ["caller", "idempotency_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("feedback", schema=None) as b:
        b.drop_index("ix_feedback_caller_idempotency")
        b.drop_column("idempotency_key")
        b.drop_column("caller")
