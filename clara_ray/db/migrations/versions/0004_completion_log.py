"""completion log: every generation served (id, version, prompt, output, tokens, latency, caller); feedback by completion id

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "completions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("route", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=True),
        sa.Column("version_ref", sa.String(length=80), nullable=True),
        sa.Column("alias", sa.String(length=64), nullable=True),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("messages", sa.JSON(), nullable=True),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("finish_reason", sa.String(length=16), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("caller", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("completions", schema=None) as b:
        b.create_index(b.f("ix_completions_created_at"), ["created_at"], unique=False)
        b.create_index("ix_completions_alias_created", ["alias", "created_at"], unique=False)
        b.create_index("ix_completions_version_ref_created", ["version_ref", "created_at"], unique=False)
        b.create_index("ix_completions_caller_created", ["caller", "created_at"], unique=False)
    with op.batch_alter_table("feedback", schema=None) as b:
        b.add_column(sa.Column("completion_id", sa.String(length=64), nullable=True))
        b.add_column(sa.Column("version_id", sa.String(length=32), nullable=True))
        b.create_index(b.f("ix_feedback_version_id"), ["version_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("feedback", schema=None) as b:
        b.drop_index(b.f("ix_feedback_version_id"))
        b.drop_column("version_id")
        b.drop_column("completion_id")
    with op.batch_alter_table("completions", schema=None) as b:
        b.drop_index("ix_completions_caller_created")
        b.drop_index("ix_completions_version_ref_created")
        b.drop_index("ix_completions_alias_created")
        b.drop_index(b.f("ix_completions_created_at"))
    op.drop_table("completions")
