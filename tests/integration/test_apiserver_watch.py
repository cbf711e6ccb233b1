"""Watches through the apiserver: every later event exactly once and in order — across an etcd
restart too — and Expired after compaction, from which an Informer relists and converges."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from apiserver.server.app import APIServer
from skiff.api import errors
from skiff.api.v1 import core_pb2
from skiff.client.client import Client
from skiff.client.informer import Informer
from tests.support.cluster import client_for, eventually, obj, running_apiserver
from tests.support.samples import sample


async def _collect(client: Client, rv: str, out: list[tuple[str, str, str]], **kw: Any) -> None:
    async for event in client.watch(core_pb2.ConfigMap, namespace="default", resource_version=rv, **kw):
        if event.type != "BOOKMARK":
            out.append((event.type, event.object.metadata.name, event.object.metadata.resource_version))


async def test_watch_from_a_resource_version_gets_every_later_event_once_in_order(client: Client) -> None:
    first = await client.create(obj(sample("ConfigMap", name="before")))
    await client.create(obj(sample("ConfigMap", name="cm-0")))
    seen: list[tuple[str, str, str]] = []
    task = asyncio.create_task(_collect(client, first.metadata.resource_version, seen))
    for i in range(1, 4):
        await client.create(obj(sample("ConfigMap", name=f"cm-{i}")))
    cm = await client.get(core_pb2.ConfigMap, "cm-1", namespace="default")
    cm.data["k"] = "changed"
    await client.update(cm)
    await client.delete(core_pb2.ConfigMap, "cm-2", namespace="default")
    await eventually(lambda: _ready(len(seen) >= 6), what="6 watch events")
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert [(t, n) for t, n, _ in seen] == [("ADDED", "cm-0"), ("ADDED", "cm-1"), ("ADDED", "cm-2"),
                                           ("ADDED", "cm-3"), ("MODIFIED", "cm-1"), ("DELETED", "cm-2")]
    revisions = [int(rv) for _, _, rv in seen]
    assert revisions == sorted(revisions) and len(set(revisions)) == len(revisions)


async def _ready(value: bool) -> bool:
    return value


async def test_watch_with_selectors_sees_transitions(server: APIServer, client: Client) -> None:
    seen: list[tuple[str, str, str]] = []
    task = asyncio.create_task(_collect(client, "", seen, label_selector="color=blue"))
    await asyncio.sleep(0)  # let the watch register before the first write
    base = await client.create(obj(sample("ConfigMap", name="x", labels={"color": "red"})))
    await eventually(lambda: _registered(server), what="watch registered")
    base.metadata.labels["color"] = "blue"
    base = await client.update(base)
    base.metadata.labels["color"] = "green"
    await client.update(base)
    await eventually(lambda: _ready(len(seen) >= 2), what="2 events")
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert [(t, n) for t, n, _ in seen] == [("ADDED", "x"), ("DELETED", "x")]


async def _registered(server: Any) -> bool:
    return bool(server.registry.stores["configmaps"].cache.num_watchers)


async def test_watch_survives_an_etcd_restart(etcd: Any, server: APIServer, client: Client) -> None:
    start = await client.create(obj(sample("ConfigMap", name="start")))
    seen: list[tuple[str, str, str]] = []
    task = asyncio.create_task(_collect(client, start.metadata.resource_version, seen))
    await client.create(obj(sample("ConfigMap", name="a")))
    await eventually(lambda: _ready(len(seen) >= 1), what="first event")
    etcd.stop()
    etcd.start()

    async def create_b() -> bool:
        try:
            await client.create(obj(sample("ConfigMap", name="b")))
            return True
        except errors.ServiceUnavailable:
            return False
        except errors.AlreadyExists:
            return True

    await eventually(create_b, timeout=20, what="a write after the etcd restart")
    await client.create(obj(sample("ConfigMap", name="c")))
    await eventually(lambda: _ready(len(seen) >= 3), timeout=20, what="events after the restart")
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert [n for _, n, _ in seen] == ["a", "b", "c"]


async def test_a_resource_version_older_than_the_window_is_expired(etcd: Any) -> None:
    async with running_apiserver(etcd.url, watch_cache_window=5) as server:
        client = client_for(server)
        first = await client.create(obj(sample("ConfigMap", name="first")))
        for i in range(10):
            last = await client.create(obj(sample("ConfigMap", name=f"cm-{i}")))
        await server.registry.stores["configmaps"].cache.wait_until_fresh(int(last.metadata.resource_version))
        with pytest.raises(errors.Expired, match="too old resource version"):
            async for _ in client.watch(core_pb2.ConfigMap, namespace="default",
                                        resource_version=first.metadata.resource_version):
                break
        await client.close()


async def test_informer_relists_after_expired_and_converges(etcd: Any) -> None:
    async with running_apiserver(etcd.url) as writer_server:
        writer = client_for(writer_server)
        first_life = running_apiserver(etcd.url)
        server = await first_life.__aenter__()
        port = server.port
        watched = client_for(server)
        informer: Informer[core_pb2.ConfigMap] = Informer(watched, core_pb2.ConfigMap, namespace="default",
                                                          max_backoff=0.2)
        task = asyncio.create_task(informer.run())
        await informer.wait_for_sync(5)
        await writer.create(obj(sample("ConfigMap", name="one")))
        await eventually(lambda: _ready(informer.store.get("default/one") is not None), what="informer add")
        await first_life.__aexit__(None, None, None)  # the informer's stream breaks; history moves on and
        # is compacted meanwhile
        for i in range(20):
            await writer.create(obj(sample("ConfigMap", name=f"filler-{i}")))
        await writer.create(obj(sample("ConfigMap", name="after")))
        await writer.delete(core_pb2.ConfigMap, "one", namespace="default")
        storage = writer_server.registry.storage
        await storage.compact(await storage.current_revision())
        async with running_apiserver(etcd.url, port=port):

            async def converged() -> bool:
                names = {c.metadata.name for c in informer.store.list()}
                return "after" in names and "one" not in names and len(names) == 21

            await eventually(converged, timeout=15, what="informer to converge after relisting")
            assert informer.stats.expired >= 1 and informer.stats.lists >= 2
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await watched.close()
        await writer.close()


async def test_metadata_only_lists_and_watches_carry_no_spec_or_data(client: Client) -> None:
    """What the garbage collector asks for: type and metadata, never a Secret's data."""
    secret = obj(sample("Secret", name="token", namespace="default", labels={"app": "web"}))
    secret.data["password"] = b"s3cret"
    created = await client.create(secret)
    listed = await client.list(core_pb2.Secret, namespace="default", metadata_only=True)
    item = next(s for s in listed.items if s.metadata.name == "token")
    assert item.metadata.uid == created.metadata.uid and item.metadata.labels["app"] == "web"
    assert item.metadata.resource_version == created.metadata.resource_version
    assert not item.data and not item.type
    events = client.watch(core_pb2.Secret, namespace="default", resource_version=listed.resource_version,
                          metadata_only=True)
    changed = core_pb2.Secret()
    changed.CopyFrom(created)
    changed.data["password"] = b"n3w"
    changed.metadata.labels["tier"] = "db"
    await client.update(changed)
    event = await asyncio.wait_for(anext(events), 5)
    await events.aclose()
    assert event.type == "MODIFIED" and event.object.metadata.labels["tier"] == "db"
    assert not event.object.data
    full = await client.get(core_pb2.Secret, "token", namespace="default")
    assert full.data["password"] == b"n3w"  # a plain read still has everything
