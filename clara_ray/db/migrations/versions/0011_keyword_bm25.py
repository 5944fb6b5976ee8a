"""keyword index on PostgreSQL: the same stemmed terms and BM25 as SQLite FTS5 (see stores/keyword_sql.py)

The generated `tsv` column (PostgreSQL's german configuration, ranked by ts_rank_cd) becomes a plain tsvector
written by the index from clara_ray.datasets.text.terms(), plus `n_terms` (the chunk's length for BM25).
Existing chunks are re-indexed here. SQLite is unchanged (its FTS5 table already holds those terms).

Revision ID: 0011
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    from clara_ray.datasets.stores.keyword_sql import pg_terms

    op.execute("DROP INDEX IF EXISTS ix_corpus_chunks_tsv")
    op.execute("ALTER TABLE corpus_chunks DROP COLUMN IF EXISTS tsv")
    op.execute("ALTER TABLE corpus_chunks ADD COLUMN tsv tsvector NOT NULL DEFAULT ''::tsvector")
    op.execute("ALTER TABLE corpus_chunks ADD COLUMN n_terms integer NOT NULL DEFAULT 0")
    conn = op.get_bind()
    last = -1
    while True:  # batches by seq: a large corpus is never held in memory at once
        rows = conn.execute(sa.text("SELECT seq, title, text FROM corpus_chunks WHERE seq > :last ORDER BY seq "
                                    "LIMIT 2000"), {"last": last}).all()
        if not rows:
            break
        conn.execute(sa.text("UPDATE corpus_chunks SET tsv = CAST(:tsv AS tsvector), n_terms = :n WHERE seq = :seq"),
                     [{"seq": seq, **dict(zip(("tsv", "n"), pg_terms(title, body)))} for seq, title, body in rows])
        last = rows[-1][0]
    op.execute("CREATE INDEX ix_corpus_chunks_tsv ON corpus_chunks USING GIN (tsv)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_corpus_chunks_tsv")
    op.execute("ALTER TABLE corpus_chunks DROP COLUMN n_terms")
    op.execute("ALTER TABLE corpus_chunks DROP COLUMN tsv")
    op.execute("ALTER TABLE corpus_chunks ADD COLUMN tsv tsvector GENERATED ALWAYS AS ("
               "setweight(to_tsvector('german', coalesce(title, '')), 'A') || "
               "setweight(to_tsvector('german', coalesce(text, '')), 'B')) STORED")
    op.execute("CREATE INDEX ix_corpus_chunks_tsv ON corpus_chunks USING GIN (tsv)")
