"""The registry: every kind's Store, and the verbs that span kinds or subresources.

``Registry`` builds one Store per kind with its strategy, and adds what is not one kind's CRUD:
namespace lifecycle (the three namespaces that always exist, refusing content in a missing or
terminating namespace, deleting a namespace's content before the namespace itself), Patch (merge
and strategic merge on the manifest form, then an ordinary Update), the pods/binding subresource
and the scale subresource of the workload kinds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

from apiserver.registry import core, pods, workloads
from apiserver.registry.allocator import PortRange, ip_allocator, port_allocator
from apiserver.registry.services import ServiceStrategy
from apiserver.registry.store import DeleteOptions, Store, ValueTransformer, object_key
from apiserver.registry.strategy import Strategy
from apiserver.storage.interface import RevisionConflictError, Storage
from skiff.aio import cancel_and_wait
from skiff.api import codec, errors, kinds
from skiff.api.kinds import Kind
from skiff.api.labels import selector_from_proto
from skiff.api.patch import PatchError, apply_patch, decode_patch
from skiff.api.timestamps import rfc3339
from skiff.api.v1 import apps_pb2, core_pb2
from skiff.api.validation import invalid, invalid_error, required

log = logging.getLogger("skiff.apiserver")

INITIAL_NAMESPACES = ("default", "kube-system", "kube-node-lease", "kube-public")
UNDELETABLE_NAMESPACES = ("default", "kube-system", "kube-public")

_STRATEGIES: dict[str, type[Strategy]] = {
    "namespaces": core.NamespaceStrategy,
    "nodes": core.NodeStrategy,
    "pods": pods.PodStrategy,
    "secrets": core.SecretStrategy,
    "configmaps": core.ConfigMapStrategy,
    "events": core.EventStrategy,
    "leases": core.LeaseStrategy,
    "endpoints": core.EndpointsStrategy,
    "persistentvolumeclaims": core.PersistentVolumeClaimStrategy,
    "replicasets": workloads.ReplicaSetStrategy,
    "deployments": workloads.DeploymentStrategy,
    "statefulsets": workloads.StatefulSetStrategy,
    "daemonsets": workloads.DaemonSetStrategy,
    "jobs": workloads.JobStrategy,
    "cronjobs": workloads.CronJobStrategy,
    "controllerrevisions": workloads.ControllerRevisionStrategy,
}


class Registry:
    """All stores, plus namespace lifecycle, patch, binding and scale."""

    def __init__(
        self,
        storage: Storage,
        *,
        transformer_for: Callable[[str], ValueTransformer] | None = None,
        service_cluster_ip_range: str = "10.96.0.0/12",
        service_node_port_range: str = "30000-32767",
        watch_window: int = 10000,
    ) -> None:
        self.storage = storage
        self.ips = ip_allocator(storage, service_cluster_ip_range)
        self.ports = port_allocator(storage, PortRange.parse(service_node_port_range))
        self.stores: dict[str, Store] = {}
        for kind in kinds.KINDS:
            strategy = self._strategy(kind)
            transformer = transformer_for(kind.resource) if transformer_for else None
            self.stores[kind.resource] = Store(kind, strategy, storage, transformer=transformer, namespaces=self,
                                               watch_window=watch_window)
        self._terminating: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def _strategy(self, kind: Kind) -> Strategy:
        if kind.resource == "services":
            return ServiceStrategy(kind, ips=self.ips, ports=self.ports)
        return _STRATEGIES.get(kind.resource, Strategy)(kind)

    # ---- lifecycle ----

    async def start(self) -> None:
        await asyncio.gather(*(store.start() for store in self.stores.values()))
        await self._ensure_namespaces()
        await self.repair_allocations()
        for ns in self.stores["namespaces"].cache.snapshot()[0]:
            if ns.metadata.deletion_timestamp:  # type: ignore[attr-defined]
                self._finish_namespace_later(ns.metadata.name)  # type: ignore[attr-defined]

    async def stop(self) -> None:
        await cancel_and_wait(list(self._tasks), ignore_errors=True)
        await asyncio.gather(*(store.stop() for store in self.stores.values()))

    async def _ensure_namespaces(self) -> None:
        store = self.stores["namespaces"]
        for name in INITIAL_NAMESPACES:
            ns = core_pb2.Namespace()
            ns.metadata.name = name
            with contextlib.suppress(errors.AlreadyExists):
                await store.create(ns)

    async def repair_allocations(self) -> None:
        """Free cluster IPs and node ports whose Service is gone."""
        services = (await self.stores["services"].list()).items
        ip_holders: dict[str, set[str]] = {}
        port_holders: dict[str, set[str]] = {}
        for svc in services:
            owner = f"{svc.metadata.namespace}/{svc.metadata.name}"  # type: ignore[attr-defined]
            spec: Any = svc.spec  # type: ignore[attr-defined]
            ip_holders[owner] = {spec.cluster_ip}
            port_holders[owner] = {str(p.node_port) for p in spec.ports if p.node_port}
        freed = await self.ips.repair(ip_holders) + await self.ports.repair(port_holders)
        if freed:
            log.info("freed %d service allocations whose Service is gone", freed)

    # ---- lookup ----

    def store(self, resource: str) -> Store:
        store = self.stores.get(resource)
        if store is None:
            raise errors.NotFound(f'the server could not find the requested resource ({resource})')
        return store

    # ---- namespaces (the NamespaceGate of every store) ----

    async def check_create(self, namespace: str, kind: Kind, name: str) -> None:
        store = self.stores["namespaces"]
        ns = store.cache.get(object_key(store.kind, "", namespace))
        if ns is None:
            try:
                ns = await store.get("", namespace)
            except errors.NotFound:
                raise errors.NotFound(f'namespaces "{namespace}" not found') from None
        if ns.metadata.deletion_timestamp or ns.status.phase == "Terminating":  # type: ignore[attr-defined]
            raise errors.Forbidden(
                f'{kind.group_resource} "{name}" is forbidden: unable to create new content in namespace '
                f"{namespace} because it is being terminated"
            )

    async def delete(self, resource: str, namespace: str, name: str, options: DeleteOptions) -> tuple[Message, bool]:
        if resource == "namespaces":
            return await self._delete_namespace(name, options)
        return await self.store(resource).delete(namespace, name, options)

    async def _delete_namespace(self, name: str, options: DeleteOptions) -> tuple[Message, bool]:
        if name in UNDELETABLE_NAMESPACES:
            raise errors.Forbidden(f'namespaces "{name}" is forbidden: this namespace may not be deleted')
        store = self.stores["namespaces"]

        def mark(ns: Any) -> Any:
            if ns.metadata.deletion_timestamp:
                return None
            ns.metadata.deletion_timestamp = rfc3339()
            ns.metadata.deletion_grace_period_seconds = 0
            return ns

        current = await store.get("", name)
        store._check_preconditions(current, options)
        if options.dry_run:
            return current, False
        marked = await store.guaranteed_update("", name, mark)
        marked = await store.guaranteed_update("", name, _set_terminating, status=True)
        self._finish_namespace_later(name)
        return marked, False

    def _finish_namespace_later(self, name: str) -> None:
        if name in self._terminating:
            return
        self._terminating.add(name)
        task = asyncio.get_running_loop().create_task(self._finish_namespace(name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finish_namespace(self, name: str) -> None:
        """Delete everything in the namespace, then the namespace itself."""
        try:
            delay = 0.05
            while not await self._empty_namespace(name):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            await self._remove_namespace(name)
            log.info("namespace %s deleted", name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("deleting namespace %s failed; will retry on the next start", name)
        finally:
            self._terminating.discard(name)

    async def _empty_namespace(self, name: str) -> bool:
        remaining = 0
        for store in self.stores.values():
            if not store.kind.namespaced:
                continue
            for obj in (await store.list(name)).items:
                remaining += 1
                meta: Any = obj.metadata  # type: ignore[attr-defined]
                if meta.deletion_timestamp and meta.finalizers:
                    continue
                with contextlib.suppress(errors.NotFound, errors.Conflict):
                    await store.delete(name, meta.name, DeleteOptions())
        return remaining == 0

    async def _remove_namespace(self, name: str) -> None:
        store = self.stores["namespaces"]
        for _ in range(10):
            ns, kv, _stale = await store.get_with_staleness("", name)
            if ns.metadata.finalizers:  # type: ignore[attr-defined]
                return  # someone else's finalizer holds it; its removal finishes the delete
            try:
                await store._remove(kv, ns)
                return
            except RevisionConflictError:
                continue

    # ---- patch ----

    async def patch(self, resource: str, namespace: str, name: str, *, patch_type: str, patch: bytes,
                    subresource: str = "", dry_run: bool = False) -> Message:
        """A JSON, merge or strategic merge patch of the stored object, as Kubernetes applies them.

        The patch applies to the object as it is now; a resourceVersion the patch itself sets is a
        precondition (Conflict when stale), otherwise a concurrent write makes it apply again.
        """
        store = self.store(resource)
        try:
            body = decode_patch(patch_type, patch)
        except PatchError as exc:
            raise errors.BadRequest(str(exc)) from None
        status = subresource == "status"
        if subresource not in ("", "status"):
            raise errors.NotFound(f'the server could not find the requested resource ({resource}/{subresource})')
        for _ in range(10):
            current = await store.get(namespace, name)
            patched = self._apply_patch(store.kind, current, body, patch_type)
            current_rv = current.metadata.resource_version  # type: ignore[attr-defined]
            wanted_rv = patched.metadata.resource_version  # type: ignore[attr-defined]
            if not wanted_rv:
                patched.metadata.resource_version = current_rv  # type: ignore[attr-defined]
            try:
                return await store.update(patched, namespace=namespace, status=status, dry_run=dry_run)
            except errors.Conflict:
                if wanted_rv and wanted_rv != current_rv:
                    raise
        raise store._conflict(name)

    @staticmethod
    def _apply_patch(kind: Kind, current: Message, body: Any, patch_type: str) -> Message:
        from skiff.api.manifest import to_manifest

        doc = to_manifest(current)
        try:
            merged = apply_patch(patch_type, doc, body)
        except PatchError as exc:
            raise errors.BadRequest(str(exc)) from None
        if not isinstance(merged, dict):
            raise errors.BadRequest(f"the patch does not leave a {kind.kind} object")
        try:
            return codec.from_dict(kind.message, merged)
        except codec.DecodeError as exc:
            raise errors.BadRequest(f"the patch does not fit {kind.kind}: {exc}") from None

    # ---- pods/binding ----

    async def bind(self, namespace: str, binding: core_pb2.Binding) -> Message:
        store = self.stores["pods"]
        name, node = binding.metadata.name, binding.target.name
        if not node:
            raise invalid_error("Binding", "", name, [required("target.name", "")])
        for _ in range(10):
            pod, kv, _stale = await store.get_with_staleness(namespace, name)
            uid = binding.metadata.uid
            if uid and uid != pod.metadata.uid:  # type: ignore[attr-defined]
                raise store._conflict(name, f"Precondition failed: UID in precondition: {uid}, "
                                            f"UID in object meta: {pod.metadata.uid}")  # type: ignore[attr-defined]
            new = _bound(pod, node)
            try:
                return await store.write_update(new, pod, kv, skip_update_rules=True)
            except RevisionConflictError:
                continue
        raise store._conflict(name)

    # ---- scale ----

    def _scalable(self, resource: str) -> Store:
        store = self.store(resource)
        if not store.kind.scalable:
            raise errors.NotFound(f"the server could not find the requested resource ({resource}/scale)")
        return store

    async def get_scale(self, resource: str, namespace: str, name: str) -> apps_pb2.Scale:
        store = self._scalable(resource)
        return _scale_of(await store.get(namespace, name))

    async def update_scale(self, resource: str, namespace: str, scale: apps_pb2.Scale) -> apps_pb2.Scale:
        store = self._scalable(resource)
        name = scale.metadata.name
        if scale.spec.replicas < 0:
            raise invalid_error("Scale", "autoscaling", name,
                                [invalid("spec.replicas", scale.spec.replicas, "must be greater than or equal to 0")])
        wanted_rv = scale.metadata.resource_version

        def set_replicas(obj: Any) -> Any:
            if wanted_rv and obj.metadata.resource_version != wanted_rv:
                raise store._conflict(name)
            if obj.spec.replicas == scale.spec.replicas:
                return None
            obj.spec.replicas = scale.spec.replicas
            return obj

        return _scale_of(await store.guaranteed_update(namespace, name, set_replicas))


def _set_terminating(ns: Any) -> Any:
    if ns.status.phase == "Terminating":
        return None
    ns.status.phase = "Terminating"
    return ns


def _bound(pod: Any, node: str) -> Any:
    if pod.spec.node_name:
        raise errors.Conflict(f'Operation cannot be fulfilled on pods/binding "{pod.metadata.name}": '
                              f'pod {pod.metadata.name} is already assigned to node "{pod.spec.node_name}"')
    if pod.metadata.deletion_timestamp:
        raise errors.Conflict(f'Operation cannot be fulfilled on pods/binding "{pod.metadata.name}": '
                              "pod is being deleted")
    new = core_pb2.Pod()
    new.CopyFrom(pod)
    new.spec.node_name = node
    for cond in new.status.conditions:
        if cond.type == "PodScheduled":
            cond.status, cond.last_transition_time = "True", rfc3339()
            cond.ClearField("reason")
            cond.ClearField("message")
            break
    else:
        cond = new.status.conditions.add()
        cond.type, cond.status, cond.last_transition_time = "PodScheduled", "True", rfc3339()
    return new


def _scale_of(obj: Any) -> apps_pb2.Scale:
    scale = apps_pb2.Scale(api_version="autoscaling/v1", kind="Scale")
    meta = obj.metadata
    scale.metadata.name, scale.metadata.namespace = meta.name, meta.namespace
    scale.metadata.uid, scale.metadata.resource_version = meta.uid, meta.resource_version
    scale.metadata.creation_timestamp = meta.creation_timestamp
    scale.spec.replicas = obj.spec.replicas
    scale.status.replicas = obj.status.replicas
    if obj.spec.HasField("selector"):
        scale.status.selector = str(selector_from_proto(obj.spec.selector))
    return scale

