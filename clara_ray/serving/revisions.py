"""Revision broadcast, publisher side: what an alias flip or a router change tells every replica, and who tells it."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict

from clara_ray.serving.settings import RouterSettings

if TYPE_CHECKING:
    from clara_ray.adapters.registry import AliasView


HUB_NAME = "clara-revisions"
"""Name of the detached revision hub actor (actors/revision_hub.py), in the deployment's `ray.namespace`."""


class AliasRevision(BaseModel):
    """An alias now points at `version_id` (and its canary, if any); `revision` is adapter_aliases.revision after the
    flip or canary start/end (it only grows)."""

    model_config = ConfigDict(frozen=True)
    alias: str
    version_id: str
    ref: str
    """`name@vN` of the version now served."""
    revision: int
    canary_version_id: str | None = None
    """A canary answering `canary_fraction` of the alias's callers (clara_ray/learning/canary.py); None: none."""
    canary_fraction: float = 0.0

    @classmethod
    def of(cls, view: AliasView) -> AliasRevision:
        return cls(alias=view.name, version_id=view.version_id, ref=f"{view.name}@v{view.version}",
                   revision=view.revision, canary_version_id=view.canary_version_id,
                   canary_fraction=view.canary_fraction or 0.0)


class RouterRevision(BaseModel):
    """Router settings every API replica uses; `revision` is the stored row's (clara_ray/serving/router_store.py)."""

    model_config = ConfigDict(frozen=True)
    revision: int
    settings: RouterSettings


class Cursor(BaseModel):
    """How far a subscriber has applied the hub's changes: the hub's `epoch` (a new hub starts a new one) and `seq`."""

    model_config = ConfigDict(frozen=True)
    epoch: str | None = None
    seq: int = 0


class ControlState(BaseModel):
    """Everything the hub knows: the newest revision of each alias flipped since it started, and the router's."""

    model_config = ConfigDict(frozen=True)
    epoch: str
    seq: int
    aliases: dict[str, AliasRevision] = {}
    router: RouterRevision | None = None

    def cursor(self) -> Cursor:
        return Cursor(epoch=self.epoch, seq=self.seq)


class ReplicaRole(str, Enum):
    API = "api"
    """A ClaraApi replica: drops alias cache entries, takes router settings."""
    LLM = "llm"
    """A LoraLLM replica: loads the newly active version before it is asked for it."""


class Subscriber(BaseModel):
    """A replica following the hub, as it reports itself on each long-poll."""

    model_config = ConfigDict(frozen=True)
    id: str
    role: ReplicaRole
    router_revision: int = 0
    """Router settings revision this replica applies (API replicas; 0 = the configuration file's)."""


class SubscriberView(BaseModel):
    """The hub's view of one subscriber (GET-style introspection for tests, the bench and operators)."""

    id: str
    role: ReplicaRole
    seq: int
    """Last hub seq the subscriber confirmed it applied (in the current epoch)."""
    router_revision: int
    waiting: bool
    """Inside a long-poll right now."""
    live: bool
    """Waiting, or heard from recently: a publish waits for its confirmation."""


class PublishReceipt(BaseModel):
    """What a publish achieved: the hub seq it produced and which live replicas applied it before it returned."""

    seq: int = 0
    acked: list[str] = []
    pending: list[str] = []
    """Live replicas that had not confirmed within the ack timeout (they catch up, or their TTL does)."""
    error: str | None = None
    """The hub could not be reached: replicas fall back to `serving.alias_ttl_seconds`."""

    def summary(self) -> dict:
        """The fields an API response carries."""
        return {"replicas_updated": len(self.acked), "replicas_pending": len(self.pending)}


class RevisionPublisher(Protocol):
    """Tells every replica about a change already committed to the database; never raises (the write stands)."""

    def publish_alias(self, change: AliasRevision) -> PublishReceipt: ...
    def publish_router(self, change: RouterRevision) -> PublishReceipt: ...


class NullPublisher:
    """No hub (in-process serving, unit tests, scripts without Ray): nobody else to tell."""

    def publish_alias(self, change: AliasRevision) -> PublishReceipt:
        return PublishReceipt()

    def publish_router(self, change: RouterRevision) -> PublishReceipt:
        return PublishReceipt()


_installed: RevisionPublisher | None = None


def install_publisher(publisher: RevisionPublisher | None) -> None:
    """Make `publisher` this process's default (tests install an in-process fake); None restores the automatic one."""
    global _installed
    _installed = publisher


def installed_publisher() -> RevisionPublisher | None:
    """The publisher a test installed, if any (revision_client.publisher_for prefers it)."""
    return _installed
