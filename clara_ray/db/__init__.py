"""Relational storage: SQLAlchemy tables, engine/migrations, and the repositories over them."""
