"""The revision history of a DaemonSet or StatefulSet: the ControllerRevisions it owns
(Kubernetes' controller/history and the two controllers' use of it).

Each distinct pod template the owner has had is one ControllerRevision named ``<owner>-<hash>``
(the template's hash, as the Deployment controller computes its pod-template-hash, with
``status.collisionCount``), labelled with that hash as ``controller-revision-hash``, holding
``{"spec": {"template": {..., "$patch": "replace"}}}`` — the strategic merge patch ``rollout
undo`` applies — and numbered by ``revision``. The current template's revision always has the
highest number: an older one that matches again is renumbered (that is a rollback).
:func:`construct_history` returns the current revision and the others; :func:`clean_up_history`
deletes the oldest beyond ``revisionHistoryLimit`` that are not in use (the caller says which
are: a DaemonSet's pods carry the hash, a StatefulSet's the revision's name).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from controllers.deployment.util import compute_hash
from skiff.api import codec, errors
from skiff.api.manifest import to_manifest
from skiff.api.ownership import controller_of, controller_ref
from skiff.api.v1 import apps_pb2
from skiff.client.client import Client

REVISION_HASH_LABEL = "controller-revision-hash"
Owner = Any
"""A DaemonSet or a StatefulSet: metadata, spec.template, status.collision_count, spec.revision_history_limit."""


def revision_hash(ds: Owner) -> str:
    collisions = ds.status.collision_count if ds.status.HasField("collision_count") else None
    return compute_hash(ds.spec.template, collisions)


def revision_data(ds: Owner) -> dict[str, Any]:
    """``getPatch``: the template as a strategic merge patch that replaces it whole."""
    template = copy.deepcopy(to_manifest(ds).get("spec", {}).get("template", {}))
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def owned_revisions(ds: Owner, revisions: list[apps_pb2.ControllerRevision]
                    ) -> list[apps_pb2.ControllerRevision]:
    return [r for r in revisions if (ref := controller_of(r)) is not None and ref.uid == ds.metadata.uid]


def _data(revision: apps_pb2.ControllerRevision) -> Any:
    return codec.to_dict(revision).get("data")


async def construct_history(client: Client, ds: Owner, revisions: list[apps_pb2.ControllerRevision]
                            ) -> tuple[apps_pb2.ControllerRevision, list[apps_pb2.ControllerRevision]]:
    """(the revision of the current template — created or renumbered as needed, the older ones)."""
    data = revision_data(ds)
    matching = [r for r in revisions if _data(r) == data]
    others = [r for r in revisions if _data(r) != data]
    top = max((r.revision for r in others), default=0)
    if not matching:
        return await _create_revision(client, ds, data, top + 1), others
    matching.sort(key=lambda r: r.revision)
    current, duplicates = matching[-1], matching[:-1]
    for duplicate in duplicates:  # the same template twice: keep the newest number
        try:
            await client.delete(apps_pb2.ControllerRevision, duplicate.metadata.name, namespace=ds.metadata.namespace)
        except errors.NotFound:
            pass
    if current.revision < top + 1:
        renumbered = apps_pb2.ControllerRevision()
        renumbered.CopyFrom(current)
        renumbered.revision = top + 1
        current = await client.update(renumbered)
    return current, others


async def _create_revision(client: Client, ds: Owner, data: dict[str, Any],
                           number: int) -> apps_pb2.ControllerRevision:
    hash_ = revision_hash(ds)
    manifest = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
                "metadata": {"name": f"{ds.metadata.name}-{hash_}", "namespace": ds.metadata.namespace,
                             "labels": {**dict(ds.spec.template.metadata.labels), REVISION_HASH_LABEL: hash_}},
                "data": data, "revision": number}
    revision = codec.from_dict(apps_pb2.ControllerRevision, manifest)
    revision.metadata.annotations.update(ds.metadata.annotations)  # change-cause for rollout history
    revision.metadata.owner_references.append(controller_ref(ds))
    try:
        return await client.create(revision)
    except errors.AlreadyExists:
        existing = await client.get(apps_pb2.ControllerRevision, revision.metadata.name,
                                    namespace=ds.metadata.namespace)
        ref = controller_of(existing)
        if ref is not None and ref.uid == ds.metadata.uid and _data(existing) == data:
            return existing
        raise HashCollision(f"controller revision {existing.metadata.name} exists with another template") from None


class HashCollision(errors.Conflict):
    """Another object holds the revision name: the DaemonSet's collisionCount must move on."""


async def clean_up_history(client: Client, ds: Owner, old: list[apps_pb2.ControllerRevision],
                           in_use: Callable[[apps_pb2.ControllerRevision], bool]) -> None:
    """Delete the oldest revisions beyond revisionHistoryLimit, sparing those ``in_use``."""
    limit = ds.spec.revision_history_limit if ds.spec.HasField("revision_history_limit") else 10
    surplus = len(old) - limit
    if surplus <= 0:
        return
    for revision in sorted(old, key=lambda r: r.revision):
        if surplus <= 0:
            break
        if in_use(revision):
            continue
        try:
            await client.delete(apps_pb2.ControllerRevision, revision.metadata.name, namespace=ds.metadata.namespace)
        except errors.NotFound:
            pass
        surplus -= 1
