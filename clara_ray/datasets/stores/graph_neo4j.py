"""Graph store on a Neo4j server through the official `neo4j` driver (production); same Cypher as the embedded store."""

from __future__ import annotations

from clara_ray.datasets.errors import StoreUnavailable
from clara_ray.datasets.stores.graph_cypher import CypherGraphStore

SCHEMA = [
    "CREATE CONSTRAINT clara_document_id IF NOT EXISTS FOR (d:Document) REQUIRE d.id IS UNIQUE",
    "CREATE CONSTRAINT clara_entity_key IF NOT EXISTS FOR (e:Entity) REQUIRE e.key IS UNIQUE",
]


class Neo4jGraphStore(CypherGraphStore):
    def __init__(self, uri: str, user: str, password: str, database: str | None = None):
        import neo4j

        try:
            self.driver = neo4j.GraphDatabase.driver(uri, auth=(user, password))
            self.driver.verify_connectivity()
        except Exception as e:  # noqa: BLE001 - ServiceUnavailable, AuthError, bad URI ...
            raise StoreUnavailable(f"Neo4j at {uri} is not reachable: {e}") from e
        self.database = database
        for stmt in SCHEMA:
            self._run(stmt)

    def _run(self, query: str, params: dict | None = None) -> list[list]:
        records, _, _ = self.driver.execute_query(query, params or {}, database_=self.database)
        return [list(r.values()) for r in records]

    def clear(self) -> None:
        """Remove every Document and Entity (tests use a throw-away database)."""
        self._run("MATCH (n) WHERE n:Document OR n:Entity DETACH DELETE n")
        self._n_docs = None

    def close(self) -> None:
        self.driver.close()
