"""Alembic environment: runs migrations on the connection handed over by clara_ray.db.engine.migrate."""

from alembic import context

from clara_ray.db.tables import Base

# Keyword-index objects created by raw SQL in 0002 and 0011 (not ORM-mapped): autogenerate must not drop them.
RAW_SQL_OBJECTS = {"corpus_chunks_fts", "tsv", "n_terms"}


def include_object(obj, name, type_, reflected, compare_to):
    return not (reflected and compare_to is None and (name in RAW_SQL_OBJECTS or str(name).startswith("corpus_chunks_fts")))


connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  include_object=include_object)
with context.begin_transaction():
    context.run_migrations()
