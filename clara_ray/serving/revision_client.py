"""Typed client of the revision hub actor (actors/revision_hub.py): publish changes, long-poll, inspect followers."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING

from clara_ray.serving.revisions import (HUB_NAME, AliasRevision, ControlState, Cursor, NullPublisher, PublishReceipt,
                                         RevisionPublisher, installed_publisher,
                                         RouterRevision, Subscriber, SubscriberView)

if TYPE_CHECKING:
    from clara_ray.adapters.registry import AliasView
    from clara_ray.config import ClaraSettings

log = logging.getLogger("clara.revisions")


class HubUnavailable(RuntimeError):
    """No revision hub runs in this namespace (no Serve app deployed yet, or it is being replaced)."""


class RayRevisionClient:
    """Publisher (sync, for request threads) and source (async, for a replica's follower) over the named hub.

    The actor is looked up by name on first use and again after it died, so a replaced hub is found again."""

    _by_namespace: dict[tuple[str, float], RayRevisionClient] = {}
    _lock = threading.Lock()

    def __init__(self, namespace: str, *, ack_timeout: float = 2.0, handle=None):
        self.namespace, self.ack_timeout = namespace, ack_timeout
        self._handle = handle

    @classmethod
    def for_namespace(cls, namespace: str, *, ack_timeout: float = 2.0) -> RayRevisionClient:
        """One client per namespace in this process (it caches the actor handle)."""
        with cls._lock:
            key = (namespace, ack_timeout)
            if key not in cls._by_namespace:
                cls._by_namespace[key] = cls(namespace, ack_timeout=ack_timeout)
            return cls._by_namespace[key]

    def _hub(self):
        if self._handle is None:
            import ray

            try:
                self._handle = ray.get_actor(HUB_NAME, namespace=self.namespace)
            except ValueError:
                raise HubUnavailable(f"no {HUB_NAME} actor in namespace {self.namespace!r}") from None
        return self._handle

    # ---- publishing (never raises: the database write stands, replicas fall back to the alias TTL) ----------
    def publish_alias(self, change: AliasRevision) -> PublishReceipt:
        return self._publish(lambda hub: hub.publish_alias.remote(change, self.ack_timeout))

    def publish_router(self, change: RouterRevision) -> PublishReceipt:
        return self._publish(lambda hub: hub.publish_router.remote(change, self.ack_timeout))

    def _publish(self, call) -> PublishReceipt:
        import ray

        try:
            return ray.get(call(self._hub()), timeout=self.ack_timeout + 30)
        except HubUnavailable as e:
            return PublishReceipt(error=str(e))
        except Exception as e:  # noqa: BLE001 - dead or replaced hub: look it up again next time
            self._handle = None
            log.warning("publishing a revision failed: %s", e)
            return PublishReceipt(error=f"{type(e).__name__}: {e}"[:300])

    # ---- following ------------------------------------------------------------------------------------------
    async def wait(self, subscriber: Subscriber, cursor: Cursor, timeout: float) -> ControlState | None:
        try:
            return await self._hub().wait.remote(subscriber, cursor, timeout)
        except HubUnavailable:
            raise
        except Exception:
            self._handle = None  # dead or replaced: the next call looks the name up again
            raise

    async def leave(self, subscriber_id: str) -> None:
        await self._hub().leave.remote(subscriber_id)

    def leave_nowait(self, subscriber_id: str) -> None:
        """Leave without waiting (a replica's destructor); nothing happens when the hub is gone."""
        try:
            self._hub().leave.remote(subscriber_id)
        except Exception:  # noqa: BLE001 - no hub: nobody waits for this replica
            pass

    # ---- inspection (tests, bench, operators) ---------------------------------------------------------------
    def state(self) -> ControlState:
        import ray

        return ray.get(self._hub().state.remote(), timeout=30)

    def subscribers(self) -> list[SubscriberView]:
        import ray

        return ray.get(self._hub().subscribers.remote(), timeout=30)


def publisher_for(settings: ClaraSettings) -> RevisionPublisher:
    """The installed publisher; else, inside a Ray process, the hub of `settings.ray.namespace`; else NullPublisher."""
    if (installed := installed_publisher()) is not None:
        return installed
    try:
        import ray
    except ImportError:
        return NullPublisher()
    if not ray.is_initialized():
        return NullPublisher()
    return RayRevisionClient.for_namespace(settings.ray.namespace,
                                           ack_timeout=settings.serving.revision_ack_timeout_seconds)


async def announce_alias(settings: ClaraSettings, view: AliasView) -> PublishReceipt:
    """Publish an alias flip from async code (the learning loop's promotion) without blocking its event loop."""
    receipt = await asyncio.to_thread(publisher_for(settings).publish_alias, AliasRevision.of(view))
    log.info("alias %s -> v%s published: %s", view.name, view.version, receipt.summary())
    return receipt
