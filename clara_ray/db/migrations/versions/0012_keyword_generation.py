"""keyword index generation: one counter every SQLite keyword write bumps, so in-memory postings know they are current

Keyword writers bump it in the writing transaction (stores/keyword_sql.py); in-memory postings
(stores/keyword_postings.py) compare it with the generation they were built at. Both dialects have the table.
(At first only SQLite bumped it; PostgreSQL's writers do too since its searches use the postings as well: they
queue on the one row, which ingest's writes, one transaction per batch, can afford.)

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa


revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    state = op.create_table(
        "corpus_keyword_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(state, [{"id": 1, "generation": 0}])


def downgrade() -> None:
    op.drop_table("corpus_keyword_state")
