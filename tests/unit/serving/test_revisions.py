"""Revision broadcast without Ray: the board's long-poll and acks, the follower, two ServingServices kept in step."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine

import pytest
from pydantic import ValidationError

from clara_ray.serving.revision_board import InProcessRevisions, RevisionBoard
from clara_ray.serving.revision_follower import RevisionFollower
from clara_ray.serving.revisions import (AliasRevision, Cursor, NullPublisher, ReplicaRole, RouterRevision,
                                         Subscriber)
from tests.waiting import poll

pytestmark = pytest.mark.timeout(60)


def flip(alias: str, revision: int, version_id: str | None = None) -> AliasRevision:
    return AliasRevision(alias=alias, version_id=version_id or f"{alias}{revision}", ref=f"{alias}@v{revision}",
                         revision=revision)


class Recorder:
    """ReplicaHooks that record what they were told; `gate` (when set) holds alias_moved until released."""

    def __init__(self):
        self.moved: list[AliasRevision] = []
        self.routers: list[RouterRevision] = []
        self.resyncs = 0
        self.gate: asyncio.Event | None = None

    async def alias_moved(self, change: AliasRevision) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self.moved.append(change)

    async def router_changed(self, change: RouterRevision) -> None:
        self.routers.append(change)

    async def resynced(self) -> None:
        self.resyncs += 1


class LoopThread:
    """An event loop in a thread: replicas' followers run there, publishers call from the test's thread."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def loop():
    lt = LoopThread()
    yield lt
    lt.close()


def follow(loop: LoopThread, source, sid: str, hooks, role=ReplicaRole.API, **kw) -> RevisionFollower:
    f = RevisionFollower(source, sid, role, hooks, poll_seconds=kw.pop("poll_seconds", 5.0), **kw)

    async def start():
        f.start()

    loop.run(start())
    return f


def test_long_poll_returns_at_once_when_behind_then_on_the_next_change_or_none_at_timeout():
    async def scenario():
        board = RevisionBoard()
        me = Subscriber(id="r1", role=ReplicaRole.API)
        first = await board.wait(me, Cursor(), timeout=5)  # unknown epoch: the state at once
        assert first is not None and first.epoch == board.epoch and first.seq == 0
        assert await board.wait(me, first.cursor(), timeout=0.05) is None  # nothing new: None at the timeout
        waiter = asyncio.create_task(board.wait(me, first.cursor(), timeout=5))
        receipt = await board.publish_alias(flip("bau", 2), ack_timeout=0.2)
        state = await waiter
        assert state.seq == 1 and state.aliases["bau"].ref == "bau@v2"
        assert receipt.seq == 1 and receipt.pending == ["r1"]  # it got the change but has not confirmed it yet
        await board.wait(me, state.cursor(), timeout=0.01)  # the next poll confirms seq 1
        assert board.subscribers()[0].seq == 1

    asyncio.run(scenario())


def test_an_older_or_equal_revision_never_moves_an_alias_back():
    async def scenario():
        board = RevisionBoard()
        await board.publish_alias(flip("bau", 3), ack_timeout=0.1)
        await board.publish_alias(flip("bau", 2), ack_timeout=0.1)  # late publish of an earlier flip
        await board.publish_alias(flip("bau", 3), ack_timeout=0.1)  # the same one twice
        assert board.seq == 1 and board.aliases["bau"].revision == 3
        router = RouterSettingsFor(conf_low=0.4)
        await board.publish_router(RouterRevision(revision=2, settings=router), ack_timeout=0.1)
        await board.publish_router(RouterRevision(revision=1, settings=RouterSettingsFor(conf_low=0.9)), 0.1)
        assert board.router.revision == 2 and board.router.settings.conf_low == 0.4

    asyncio.run(scenario())


def RouterSettingsFor(**kw):
    from clara_ray.serving.settings import RouterSettings

    return RouterSettings(**kw)


def test_publish_returns_only_after_every_follower_applied_the_change(loop):
    board = RevisionBoard()
    fake = InProcessRevisions(board, loop.loop, ack_timeout=5)
    hooks = [Recorder(), Recorder(), Recorder()]
    gate = loop.run(_event())
    hooks[2].gate = gate  # the third replica is slow to apply
    followers = [follow(loop, fake, f"api-{i}", h) for i, h in enumerate(hooks)]
    poll(lambda: sum(s.waiting for s in board.subscribers()) == 3, "followers did not subscribe")

    results: list = []
    publishing = threading.Thread(target=lambda: results.append(fake.publish_alias(flip("bau", 2))))
    publishing.start()
    poll(lambda: len(hooks[0].moved) == 1 and len(hooks[1].moved) == 1, "fast replicas were not told")
    assert not results and hooks[2].moved == []  # still waiting for the slow replica
    loop.loop.call_soon_threadsafe(gate.set)
    publishing.join(5)
    (receipt,) = results
    assert sorted(receipt.acked) == ["api-0", "api-1", "api-2"] and receipt.pending == []
    assert all(h.moved == [flip("bau", 2)] for h in hooks)  # every replica applied it before publish returned
    for f in followers:
        loop.run(f.stop())


async def _event() -> asyncio.Event:
    return asyncio.Event()


def test_a_replica_that_does_not_confirm_delays_a_publish_only_up_to_the_ack_timeout_and_is_named(loop):
    board = RevisionBoard()
    fake = InProcessRevisions(board, loop.loop, ack_timeout=0.3)
    stuck = Recorder()
    stuck.gate = loop.run(_event())  # never released
    ok = Recorder()
    followers = [follow(loop, fake, "stuck", stuck), follow(loop, fake, "ok", ok)]
    poll(lambda: sum(s.waiting for s in board.subscribers()) == 2, "followers did not subscribe")
    receipt = fake.publish_alias(flip("bau", 2))
    assert receipt.acked == ["ok"] and receipt.pending == ["stuck"]
    assert receipt.summary() == {"replicas_updated": 1, "replicas_pending": 1}
    loop.run(followers[0].stop())  # it leaves: publishes stop waiting for it
    assert fake.publish_alias(flip("bau", 3)).pending == []
    loop.run(followers[1].stop())


def test_router_changes_reach_followers_and_a_new_hub_makes_them_resync(loop):
    board = RevisionBoard()
    fake = InProcessRevisions(board, loop.loop, ack_timeout=5)
    hooks = Recorder()
    f = follow(loop, fake, "api-0", hooks, router_revision=1)
    poll(lambda: board.subscribers() and board.subscribers()[0].waiting, "no subscription")
    assert hooks.resyncs == 1  # first contact
    fake.publish_router(RouterRevision(revision=1, settings=RouterSettingsFor(conf_low=0.3)))
    assert hooks.routers == []  # it already applies revision 1 (read from the database at start)
    receipt = fake.publish_router(RouterRevision(revision=2, settings=RouterSettingsFor(conf_low=0.4)))
    assert receipt.acked == ["api-0"] and [r.settings.conf_low for r in hooks.routers] == [0.4]
    assert board.subscribers()[0].router_revision == 2  # it reports what it applies

    fake.board = new = RevisionBoard()  # the hub restarted: a new epoch, no state
    loop.run(board.publish_alias(flip("x", 1), ack_timeout=0.01))  # ends the long-poll still open on the old one
    poll(lambda: new.subscribers() and new.subscribers()[0].waiting, "did not move to the new hub")
    assert hooks.resyncs == 2
    loop.run(f.stop())


def test_follower_retries_when_the_hub_is_unreachable(loop):
    board = RevisionBoard()

    class Flaky(InProcessRevisions):
        failures = 2

        async def wait(self, subscriber, cursor, timeout):
            if self.failures:
                self.failures -= 1
                raise ConnectionError("hub restarting")
            return await super().wait(subscriber, cursor, timeout)

    fake = Flaky(board, loop.loop, ack_timeout=5)
    hooks = Recorder()
    f = RevisionFollower(fake, "api-0", ReplicaRole.API, hooks, poll_seconds=5, retry_seconds=0.01)

    async def start():
        f.start()

    loop.run(start())
    poll(lambda: board.subscribers() and board.subscribers()[0].waiting, "never reached the hub")
    assert fake.publish_alias(flip("bau", 2)).acked == ["api-0"] and hooks.moved == [flip("bau", 2)]
    loop.run(f.stop())


def test_null_publisher_outside_ray():
    from clara_ray.config import load_settings
    from clara_ray.serving.revision_client import publisher_for

    assert isinstance(publisher_for(load_settings()), NullPublisher)


# ---- two API replicas' ServingServices over one database, kept in step by the board ---------------------------
@pytest.fixture
def replicas(tmp_path, loop):
    from clara_ray.adapters.registry import AdapterRegistry
    from clara_ray.config import load_settings
    from clara_ray.db.engine import Database
    from clara_ray.serving.revision_hooks import ApiReplicaHooks
    from clara_ray.serving.service import ServingService

    settings = load_settings(storage={"data_dir": tmp_path}, serving={"alias_ttl_seconds": 600},
                             router={"use_embeddings": False})  # a long TTL: only the event can explain a change
    db = Database(settings.storage.database_url)
    reg = AdapterRegistry(db)
    for v in (1, 2):
        reg.register(name="bau", uri=f"/store/bau{v}", version_id=f"bau{v}", base_model="tiny", trainer_type="LORA",
                     rank=8, domain="baurecht")
    reg.activate("bau1")
    board = RevisionBoard()
    fake = InProcessRevisions(board, loop.loop, ack_timeout=5)

    def replica(sid: str) -> ServingService:
        svc = ServingService(settings, db, backend=None, base_model_path="/models/tiny", revisions=fake)
        follow(loop, fake, sid, ApiReplicaHooks(svc), router_revision=svc.router_revision)
        return svc

    a, b = replica("api-a"), replica("api-b")
    poll(lambda: sum(s.waiting for s in board.subscribers()) == 2, "replicas did not subscribe")
    return a, b, replica


def test_activate_on_one_replica_is_served_by_the_other_at_once(replicas):
    a, b, _ = replicas
    assert b.catalog.resolve("bau").ref == "bau@v1"  # cached for 600 s
    out = a.activate("bau@v2")
    assert out["version"] == "bau@v2" and out["replicas_updated"] == 2 and out["replicas_pending"] == 0
    assert b.catalog.resolve("bau").ref == "bau@v2"  # the very next lookup, no waiting
    assert a.catalog.resolve("bau").ref == "bau@v2"  # cached on a
    back = b.rollback("bau")
    assert back["version"] == "bau@v1" and a.catalog.resolve("bau").ref == "bau@v1"


def test_router_settings_reach_every_replica_and_survive_a_restart(replicas):
    a, b, replica = replicas
    a.configure_router({"conf_low": 0.42, "exploration": 0.1}, updated_by="admin")
    assert b.router.settings.conf_low == 0.42 and b.router.settings.exploration == 0.1  # pushed before return
    assert a.router_revision == b.router_revision == 1
    restarted = replica("api-c")  # a new replica reads the stored settings
    assert restarted.router.settings.conf_low == 0.42 and restarted.router_revision == 1
    b.configure_router({"conf_low": 0.5})
    assert (a.router.settings.conf_low, restarted.router.settings.conf_low) == (0.5, 0.5)
    assert a.router.settings.exploration == 0.1  # an omitted field keeps its value
    with pytest.raises(ValidationError, match="conf_low"):
        a.configure_router({"conf_low": 3})  # invalid: nothing stored, nothing pushed
    assert restarted.router_store.load().revision == 2 and b.router.settings.conf_low == 0.5


def test_a_lookup_that_read_the_database_before_an_invalidate_is_not_cached(replicas):
    a, *_ = replicas
    real = a.registry.route  # how the catalog reads an alias (its active version and canary)

    def racing(name):  # the flip lands while this lookup is between its read and its cache write
        row = real(name)
        a.catalog.invalidate(name)
        return row

    a.registry.route = racing
    assert a.catalog.resolve("bau").ref == "bau@v1"
    a.registry.route = real
    assert "bau" not in a.catalog._alias_cache  # noqa: SLF001
