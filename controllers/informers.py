"""Shared informers: one list+watch per kind for every controller of the process.

``SharedInformers.get(Pod)`` returns the one Informer for pods (created on first use), so the
ReplicaSet, Deployment and garbage-collector controllers all read the same local copy and the
apiserver serves one watch per kind per controller-manager, not one per controller.

Every informer's store is indexed by owner uid (``"owner"``) and by namespace (``"namespace"``),
so any controller looks up an owner's dependents or a namespace's objects without a scan.

``get(Secret, metadata_only=True)`` asks for metadata alone (the garbage collector needs no more):
such an informer holds no specs and no Secret data. When any controller asks for the whole
objects of that kind before the informers start, the one informer carries whole objects and
serves both.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from google.protobuf.message import Message

from skiff.aio import cancel_and_wait
from skiff.client.client import Client
from skiff.client.informer import IndexFunc, Informer

M = TypeVar("M", bound=Message)


def owner_uid_index(obj: Any) -> list[str]:
    """Index by the uid of every owner (the GC and adoption look dependents up this way)."""
    return [ref.uid for ref in obj.metadata.owner_references]


def namespace_index(obj: Any) -> list[str]:
    """Index by namespace (``""`` for cluster-scoped objects): a namespace's pods without a full scan."""
    return [obj.metadata.namespace]


INDEXERS: dict[str, IndexFunc] = {"owner": owner_uid_index, "namespace": namespace_index}
"""The indexes every shared informer's store has."""


class SharedInformers:
    def __init__(self, client: Client) -> None:
        self.client = client
        self._informers: dict[type[Message], Informer[Any]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def get(self, cls: type[M], *, metadata_only: bool = False) -> Informer[M]:
        informer = self._informers.get(cls)
        if informer is None:
            informer = Informer(self.client, cls, indexers=INDEXERS, metadata_only=metadata_only)
            self._informers[cls] = informer
        elif informer.metadata_only and not metadata_only:
            if self._tasks:
                raise RuntimeError(f"the {cls.__name__} informer already runs with metadata only")
            informer.metadata_only = False
        return informer

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(i.run(), name=f"informer:{cls.__name__}")
                       for cls, i in self._informers.items()]

    async def wait_for_sync(self, timeout: float | None = None) -> None:
        await asyncio.gather(*(i.wait_for_sync(timeout) for i in self._informers.values()))

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
