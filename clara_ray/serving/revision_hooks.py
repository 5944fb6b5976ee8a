"""What an API replica does when the revision hub announces a change: forget the alias, take the router settings."""

from __future__ import annotations

from clara_ray.serving.revisions import AliasRevision, RouterRevision
from clara_ray.serving.service import ServingService


class ApiReplicaHooks:
    """ReplicaHooks over one replica's ServingService (the next request for a moved alias reads the database)."""

    def __init__(self, service: ServingService):
        self.service = service

    async def alias_moved(self, change: AliasRevision) -> None:
        self.service.catalog.invalidate(change.alias)

    async def router_changed(self, change: RouterRevision) -> None:
        self.service.apply_router(change)

    async def resynced(self) -> None:
        self.service.catalog.invalidate()
        stored = self.service.router_store.load()  # a change made while no hub could tell us
        if stored is not None:
            self.service.apply_router(stored)
