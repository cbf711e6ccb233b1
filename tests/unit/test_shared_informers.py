"""SharedInformers: one informer per kind; metadata-only unless some controller needs whole objects."""

from __future__ import annotations

import pytest

from controllers.informers import SharedInformers
from skiff.api.v1 import core_pb2


def test_one_informer_per_kind_whole_objects_win_before_the_start() -> None:
    informers = SharedInformers(client=object())  # type: ignore[arg-type]
    secrets = informers.get(core_pb2.Secret, metadata_only=True)
    assert secrets.metadata_only
    assert informers.get(core_pb2.Secret, metadata_only=True) is secrets
    pods = informers.get(core_pb2.Pod, metadata_only=True)
    assert informers.get(core_pb2.Pod) is pods and not pods.metadata_only  # the RS controller needs specs
    assert informers.get(core_pb2.Pod, metadata_only=True) is pods and not pods.metadata_only
    assert secrets.metadata_only


async def test_whole_objects_cannot_be_asked_for_once_the_informer_runs() -> None:
    informers = SharedInformers(client=object())  # type: ignore[arg-type]
    informers.get(core_pb2.Secret, metadata_only=True)
    informers.start()
    try:
        with pytest.raises(RuntimeError, match="already runs with metadata only"):
            informers.get(core_pb2.Secret)
    finally:
        await informers.stop()


def test_every_informer_store_is_indexed_by_owner_and_namespace() -> None:
    informers = SharedInformers(client=object())  # type: ignore[arg-type]
    store = informers.get(core_pb2.ConfigMap, metadata_only=True).store
    cm = core_pb2.ConfigMap()
    cm.metadata.name, cm.metadata.namespace = "settings", "team-a"
    cm.metadata.owner_references.add(kind="Deployment", name="web", uid="d-uid")
    store.put(cm)
    assert store.by_index("namespace", "team-a") == [cm]
    assert store.by_index("owner", "d-uid") == [cm]
    assert store.by_index("namespace", "default") == []
