"""alias recipes (a sweep's winning configuration kept per alias) and the recipe a learning cycle trained with

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alias_recipes",
        sa.Column("alias", sa.String(length=64), primary_key=True),
        sa.Column("recipe", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("learning_cycles", schema=None) as b:
        b.add_column(sa.Column("recipe", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("learning_cycles", schema=None) as b:
        b.drop_column("recipe")
    op.drop_table("alias_recipes")
