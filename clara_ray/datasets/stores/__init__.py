"""The three search stores behind small interfaces: vector (Chroma), graph (ladybug / Neo4j), keyword (FTS5 / PostgreSQL)."""
