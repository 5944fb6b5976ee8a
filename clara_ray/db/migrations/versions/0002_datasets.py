"""datasets: corpus documents and chunks, plus the keyword index (SQLite FTS5 table / PostgreSQL tsvector + GIN)

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "corpus_documents",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("document_type", sa.String(length=64), nullable=False),
        sa.Column("domain", sa.String(length=64), nullable=False),
        sa.Column("date", sa.String(length=10), nullable=True),
        sa.Column("source", sa.String(length=256), nullable=True),
        sa.Column("quality_score", sa.Float(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("entities", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("corpus_documents", schema=None) as b:
        b.create_index(b.f("ix_corpus_documents_document_type"), ["document_type"], unique=False)
        b.create_index(b.f("ix_corpus_documents_domain"), ["domain"], unique=False)
        b.create_index(b.f("ix_corpus_documents_date"), ["date"], unique=False)
        b.create_index(b.f("ix_corpus_documents_quality_score"), ["quality_score"], unique=False)
    op.create_table(
        "corpus_chunks",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=160), nullable=False),
        sa.Column("doc_id", sa.String(length=128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["doc_id"], ["corpus_documents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("corpus_chunks", schema=None) as b:
        b.create_index(b.f("ix_corpus_chunks_doc_id"), ["doc_id"], unique=False)
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        # Stemmed terms (clara_ray.datasets.text) per chunk; rowid = corpus_chunks.seq. Ranked with bm25().
        op.execute("CREATE VIRTUAL TABLE corpus_chunks_fts USING fts5("
                   "title_terms, body_terms, tokenize = 'unicode61 remove_diacritics 2')")
    elif dialect == "postgresql":
        op.execute("ALTER TABLE corpus_chunks ADD COLUMN tsv tsvector GENERATED ALWAYS AS ("
                   "setweight(to_tsvector('german', coalesce(title, '')), 'A') || "
                   "setweight(to_tsvector('german', coalesce(text, '')), 'B')) STORED")
        op.execute("CREATE INDEX ix_corpus_chunks_tsv ON corpus_chunks USING GIN (tsv)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS corpus_chunks_fts")
    op.drop_table("corpus_chunks")
    op.drop_table("corpus_documents")
