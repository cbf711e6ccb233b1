"""A pod's volumes on the node: set up before its containers start, kept fresh, torn down after.

Every volume lives under the kubelet's root directory, laid out like Kubernetes'
``/var/lib/kubelet``::

    <root>/pods/<pod uid>/volumes/kubernetes.io~empty-dir/<volume>
    <root>/pods/<pod uid>/volumes/kubernetes.io~configmap/<volume>
    <root>/pods/<pod uid>/volumes/kubernetes.io~secret/<volume>
    <root>/pods/<pod uid>/volumes/kubernetes.io~downward-api/<volume>
    <root>/pods/<pod uid>/volumes/kubernetes.io~projected/<volume>
    <root>/pvc/<namespace>/<claim name>        persistentVolumeClaim data; outlives the pod

Sources:

* **emptyDir** -- a directory (mode 0777, as Kubernetes makes it; a disk ``sizeLimit`` is not
  enforced, Kubernetes enforces it by eviction, which skiff lacks). ``medium: Memory`` is a tmpfs
  mounted on that directory (``size`` = ``sizeLimit`` when set) when the kubelet runs as root;
  otherwise the volume is a directory under ``/dev/shm/skiff-volumes/<pod uid>/`` (memory-backed
  on Linux, but without a size limit) and the returned path points there.
* **hostPath** -- the host path itself, after Kubernetes' type check (``DirectoryOrCreate``,
  ``Directory``, ``FileOrCreate``, ``File``, ``Socket``, ``CharDevice``, ``BlockDevice``; ``""``
  checks nothing) with its messages, e.g. ``hostPath type check failed: /x is not a directory,
  it's a File``.
* **configMap** / **secret** -- a file per key (or per ``items`` entry, at its ``path`` with its
  ``mode``), default mode 0644 (Kubernetes' ``defaultMode: 420``), written with the
  :class:`~kubelet.atomic_writer.AtomicWriter`. A missing object fails (``configmap "x" not
  found``) unless ``optional``, which leaves the volume empty until the object appears; a missing
  ``items`` key fails the same way (``configmap references non-existent config key: k``).
* **downwardAPI** -- one file per item: ``metadata.labels`` / ``metadata.annotations`` as sorted
  ``key="value"`` lines, ``name``, ``namespace``, ``uid``, single ``labels['k']`` values, and
  ``resourceFieldRef`` values (limits default to the node's ``allocatable``).
* **projected** -- secret, configMap and downwardAPI sources merged into one directory;
  ``serviceAccountToken`` writes a *placeholder*: an unsigned JWT (``alg: none``) naming the
  pod's service account, audience and pod, stable across refreshes. Skiff has no token issuer
  yet, so nothing should accept it as a credential.
* **persistentVolumeClaim** -- the claim must exist (``persistentvolumeclaim "x" not found``);
  its data is the directory ``<root>/pvc/<namespace>/<claim>``, kept by :meth:`teardown`, so a
  StatefulSet pod rescheduled on the same node finds its data again. (Skiff does not check that
  the claim is Bound: there are no PersistentVolumes to bind to.)

Errors raise :class:`VolumeError` (reason ``FailedMount``); :meth:`VolumeError.event_message` is
Kubernetes' event text, ``MountVolume.SetUp failed for volume "cfg" : configmap "x" not found``.

Updates: :meth:`VolumeManager.refresh` re-reads configMap, secret, downwardAPI and projected
sources and rewrites a volume only when its payload changed (the writer no-ops otherwise), so the
kubelet can call it every second and on ConfigMap / Secret / Pod events. When a source has gone,
refresh raises and the previous files stay, as in Kubernetes. Calls for one pod are serialised so
an older read never overwrites a newer one. The manager only needs ``get`` from its client, so
the kubelet may hand it an informer-backed getter instead of the API client.

``subPath`` mounts resolve inside the volume (a directory is created when missing; a path
escaping the volume through ``..`` or a symlink is refused), as ``makeMounts`` does; like
Kubernetes they do not see later updates of configMap/secret volumes (the runtime bind-mounts
what the path resolves to at container start).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import shutil
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from kubelet.atomic_writer import AtomicWriter, FileProjection, PayloadError
from kubelet.env import (
    ContainerConfigError,
    ObjectGetter,
    expand_with,
    field_value,
    find_container,
    resource_value,
)
from kubelet.runtime.interface import Mount
from skiff.api import errors
from skiff.api.quantity import parse_quantity
from skiff.api.v1 import core_pb2

log = logging.getLogger(__name__)

DEFAULT_MODE = 0o644
"""Kubernetes' default ``defaultMode`` (420) for configMap, secret, downwardAPI and projected."""
SHM_ROOT = Path("/dev/shm/skiff-volumes")

_PLUGINS = {
    "empty_dir": "kubernetes.io~empty-dir",
    "config_map": "kubernetes.io~configmap",
    "secret": "kubernetes.io~secret",
    "downward_api": "kubernetes.io~downward-api",
    "projected": "kubernetes.io~projected",
}
_REFRESHED = ("config_map", "secret", "downward_api", "projected")
_ALWAYS_READ_ONLY = ("config_map", "secret", "downward_api", "projected")
_SOURCES: tuple[Literal["host_path", "empty_dir", "secret", "persistent_volume_claim", "downward_api",
                         "config_map", "projected", "nfs", "image"], ...] = (
    "host_path", "empty_dir", "secret", "persistent_volume_claim", "downward_api", "config_map", "projected", "nfs",
    "image")
_HOST_PATH_KINDS = {
    "Directory": ("directory", stat.S_ISDIR),
    "File": ("file", stat.S_ISREG),
    "Socket": ("socket file", stat.S_ISSOCK),
    "CharDevice": ("character device", stat.S_ISCHR),
    "BlockDevice": ("block device", stat.S_ISBLK),
}


class VolumeError(Exception):
    """A volume that cannot be set up; the pod stays ContainerCreating with a FailedMount event."""

    reason = "FailedMount"

    def __init__(self, message: str, *, volume: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.volume = volume

    def event_message(self) -> str:
        return f'MountVolume.SetUp failed for volume "{self.volume}" : {self.message}'


def volume_source(volume: core_pb2.Volume) -> str:
    """Which source a volume uses; a volume without one is an emptyDir (the API's default)."""
    for name in _SOURCES:
        if volume.HasField(name):
            return name
    return "empty_dir"


def _aggregate(messages: list[str]) -> str:
    """``utilerrors.NewAggregate(...).Error()``: one message as is, several in brackets."""
    return messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"


class VolumeManager:
    """Sets up, refreshes and tears down the volumes of the pods on one node."""

    def __init__(self, client: ObjectGetter, root_dir: Path, *,
                 allocatable: Mapping[str, str] | None = None) -> None:
        self.client = client
        self.root_dir = root_dir
        self.allocatable: Mapping[str, str] = allocatable or {}
        """The node's allocatable (quantities as strings), for downwardAPI limits left unset."""
        self._locks: dict[str, asyncio.Lock] = {}

    # ---- paths

    def pod_volumes_dir(self, pod_uid: str) -> Path:
        return self.root_dir / "pods" / pod_uid / "volumes"

    def volume_dir(self, pod_uid: str, volume: core_pb2.Volume) -> Path:
        """Where a volume kept under the pod lives (hostPath and PVC volumes live elsewhere)."""
        source = volume_source(volume)
        return self.pod_volumes_dir(pod_uid) / _PLUGINS.get(source, source) / volume.name

    def claim_dir(self, namespace: str, claim_name: str) -> Path:
        return self.root_dir / "pvc" / namespace / claim_name

    def _lock(self, pod_uid: str) -> asyncio.Lock:
        return self._locks.setdefault(pod_uid, asyncio.Lock())

    # ---- lifecycle

    async def setup(self, pod: core_pb2.Pod) -> dict[str, Path]:
        """Set up every volume of ``pod``; volume name -> host path. Raises the first VolumeError.

        Every volume is attempted even when an earlier one fails, so one missing ConfigMap does
        not hold back the others; calling it again is safe (it converges).
        """
        async with self._lock(pod.metadata.uid):
            paths: dict[str, Path] = {}
            failures: list[VolumeError] = []
            for volume in pod.spec.volumes:
                try:
                    paths[volume.name] = await self._setup_volume(pod, volume)
                except VolumeError as exc:
                    failures.append(exc)
                except OSError as exc:
                    failures.append(VolumeError(str(exc), volume=volume.name))
            if failures:
                raise failures[0]
            return paths

    async def refresh(self, pod: core_pb2.Pod) -> None:
        """Re-project configMap, secret, downwardAPI and projected volumes whose content changed."""
        async with self._lock(pod.metadata.uid):
            failures: list[VolumeError] = []
            for volume in pod.spec.volumes:
                if volume_source(volume) not in _REFRESHED:
                    continue
                target = self.volume_dir(pod.metadata.uid, volume)
                if not target.is_dir():
                    continue  # not set up (yet): setup() owns creating it
                try:
                    await self._project(pod, volume, target)
                except VolumeError as exc:
                    failures.append(exc)
            if failures:
                raise failures[0]

    async def teardown(self, pod_uid: str) -> None:
        """Unmount and remove the pod's volumes; persistentVolumeClaim directories stay."""
        async with self._lock(pod_uid):
            volumes_dir = self.pod_volumes_dir(pod_uid)
            empty_dirs = volumes_dir / _PLUGINS["empty_dir"]
            if empty_dirs.is_dir():
                for entry in empty_dirs.iterdir():
                    await _release_memory_volume(entry)
            shutil.rmtree(SHM_ROOT / pod_uid, ignore_errors=True)
            shutil.rmtree(volumes_dir, ignore_errors=True)
            _remove_if_empty(volumes_dir.parent)
        self._locks.pop(pod_uid, None)

    # ---- mounts

    def mounts(self, pod: core_pb2.Pod, container: core_pb2.Container, paths: Mapping[str, Path], *,
               env: list[tuple[str, str]] | None = None) -> list[Mount]:
        """The container's ``volumeMounts`` as runtime mounts; raises ContainerConfigError.

        ``env`` (the container's resolved environment) expands ``subPathExpr``.
        """
        volumes = {volume.name: volume for volume in pod.spec.volumes}
        result: list[Mount] = []
        for mount in container.volume_mounts:
            if mount.name not in paths or mount.name not in volumes:
                raise ContainerConfigError(
                    f'cannot find volume "{mount.name}" to mount into container "{container.name}"')
            volume = volumes[mount.name]
            host_path = _with_sub_path(paths[mount.name], _sub_path(mount, env or []), mount, container)
            container_path = mount.mount_path if mount.mount_path.startswith("/") else "/" + mount.mount_path
            result.append(Mount(host_path=str(host_path), container_path=container_path,
                                read_only=mount.read_only or _forced_read_only(volume)))
        return result

    # ---- one volume

    async def _setup_volume(self, pod: core_pb2.Pod, volume: core_pb2.Volume) -> Path:
        source = volume_source(volume)
        if source == "host_path":
            return _setup_host_path(volume)
        if source == "persistent_volume_claim":
            return await self._setup_claim(pod, volume)
        if source in ("nfs", "image"):
            raise VolumeError(f"{source} volumes are not supported by skiff", volume=volume.name)
        target = self.volume_dir(pod.metadata.uid, volume)
        if source == "empty_dir":
            return await _setup_empty_dir(target, volume, pod.metadata.uid)
        target.mkdir(parents=True, exist_ok=True)
        target.chmod(0o755)
        await self._project(pod, volume, target)
        return target

    async def _setup_claim(self, pod: core_pb2.Pod, volume: core_pb2.Volume) -> Path:
        claim = volume.persistent_volume_claim.claim_name
        namespace = pod.metadata.namespace
        try:
            found = await self.client.get(core_pb2.PersistentVolumeClaim, claim, namespace=namespace)
        except errors.NotFound:
            raise VolumeError(f'persistentvolumeclaim "{claim}" not found', volume=volume.name) from None
        except errors.StatusError as exc:
            raise VolumeError(str(exc), volume=volume.name) from exc
        assert isinstance(found, core_pb2.PersistentVolumeClaim)
        if found.metadata.deletion_timestamp:
            raise VolumeError(f"can't start pod because PVC {namespace}/{claim} is being deleted",
                              volume=volume.name)
        path = self.claim_dir(namespace, claim)
        path.mkdir(parents=True, exist_ok=True)
        return path

    async def _project(self, pod: core_pb2.Pod, volume: core_pb2.Volume, target: Path) -> None:
        payload = await self._payload(pod, volume)
        try:
            changed = AtomicWriter(target).write(payload)
        except (PayloadError, OSError) as exc:
            raise VolumeError(str(exc), volume=volume.name) from exc
        if changed:
            log.info("volume %s of pod %s/%s updated", volume.name, pod.metadata.namespace, pod.metadata.name)

    async def _payload(self, pod: core_pb2.Pod, volume: core_pb2.Volume) -> dict[str, FileProjection]:
        source = volume_source(volume)
        try:
            if source == "config_map":
                cm = volume.config_map
                return await self._config_map_payload(pod, cm.name, cm.items, _mode(cm, "default_mode"), cm.optional)
            if source == "secret":
                sv = volume.secret
                return await self._secret_payload(pod, sv.secret_name, sv.items, _mode(sv, "default_mode"),
                                                  sv.optional)
            if source == "downward_api":
                return self._downward_payload(pod, volume.downward_api.items,
                                              _mode(volume.downward_api, "default_mode"))
            return await self._projected_payload(pod, volume.projected)
        except VolumeError as exc:
            exc.volume = volume.name
            raise

    async def _projected_payload(self, pod: core_pb2.Pod,
                                 projected: core_pb2.ProjectedVolumeSource) -> dict[str, FileProjection]:
        mode = _mode(projected, "default_mode")
        payload: dict[str, FileProjection] = {}
        for source in projected.sources:
            if source.HasField("secret"):
                s = source.secret
                payload.update(await self._secret_payload(pod, s.name, s.items, mode, s.optional))
            elif source.HasField("config_map"):
                c = source.config_map
                payload.update(await self._config_map_payload(pod, c.name, c.items, mode, c.optional))
            elif source.HasField("downward_api"):
                payload.update(self._downward_payload(pod, source.downward_api.items, mode))
            elif source.HasField("service_account_token"):
                token = source.service_account_token
                payload[token.path] = FileProjection(_placeholder_token(pod, token), mode)
        return payload

    async def _config_map_payload(self, pod: core_pb2.Pod, name: str, items: Iterable[core_pb2.KeyToPath],
                                  mode: int, optional: bool) -> dict[str, FileProjection]:
        config_map = await self._get(core_pb2.ConfigMap, "configmap", pod.metadata.namespace, name, optional)
        data: dict[str, bytes] = {}
        if isinstance(config_map, core_pb2.ConfigMap):
            data = {key: value.encode() for key, value in config_map.data.items()}
            for key, raw in config_map.binary_data.items():
                data.setdefault(key, raw)
        return _key_payload(data, items, mode, optional, "configmap references non-existent config key")

    async def _secret_payload(self, pod: core_pb2.Pod, name: str, items: Iterable[core_pb2.KeyToPath],
                              mode: int, optional: bool) -> dict[str, FileProjection]:
        secret = await self._get(core_pb2.Secret, "secret", pod.metadata.namespace, name, optional)
        data = dict(secret.data) if isinstance(secret, core_pb2.Secret) else {}
        return _key_payload(data, items, mode, optional, "references non-existent secret key")

    async def _get(self, cls: type, resource: str, namespace: str, name: str, optional: bool) -> object | None:
        try:
            return await self.client.get(cls, name, namespace=namespace)
        except errors.NotFound:
            if optional:
                return None
            raise VolumeError(f'{resource} "{name}" not found') from None
        except errors.StatusError as exc:  # the apiserver unreachable, forbidden, ...
            raise VolumeError(str(exc)) from exc

    def _downward_payload(self, pod: core_pb2.Pod, items: Iterable[core_pb2.DownwardAPIVolumeFile],
                          mode: int) -> dict[str, FileProjection]:
        payload: dict[str, FileProjection] = {}
        problems: list[str] = []
        for item in items:
            try:
                value = self._downward_value(pod, item)
            except ContainerConfigError as exc:
                problems.append(exc.message)
                continue
            payload[os.path.normpath(item.path)] = FileProjection(value.encode(), _mode(item, "mode", mode))
        if problems:
            raise VolumeError(_aggregate(problems))
        return payload

    def _downward_value(self, pod: core_pb2.Pod, item: core_pb2.DownwardAPIVolumeFile) -> str:
        if item.HasField("field_ref"):
            return field_value(pod, item.field_ref.field_path)
        if item.HasField("resource_field_ref"):
            # In a volume the selector must name its container (validation requires it).
            container = find_container(pod, item.resource_field_ref.container_name)
            return resource_value(item.resource_field_ref, pod, container, self.allocatable)
        return ""


# ---- helpers: payloads


def _mode(message: object, field: str, default: int = DEFAULT_MODE) -> int:
    has_field = getattr(message, "HasField")  # noqa: B009 - protobuf messages of several types
    return int(getattr(message, field)) if has_field(field) else default


def _key_payload(data: Mapping[str, bytes], items: Iterable[core_pb2.KeyToPath], mode: int, optional: bool,
                 missing: str) -> dict[str, FileProjection]:
    """Kubernetes' ``MakePayload`` for configMap and secret data."""
    mappings = list(items)
    if not mappings:
        return {key: FileProjection(value, mode) for key, value in data.items()}
    payload: dict[str, FileProjection] = {}
    for item in mappings:
        if item.key not in data:
            if optional:
                continue
            raise VolumeError(f"{missing}: {item.key}")
        payload[item.path] = FileProjection(data[item.key], _mode(item, "mode", mode))
    return payload


def _placeholder_token(pod: core_pb2.Pod, token: core_pb2.ServiceAccountTokenProjection) -> bytes:
    """An unsigned, deterministic JWT standing in for a service account token (see module doc)."""
    account = pod.spec.service_account_name or "default"
    namespace = pod.metadata.namespace
    claims = {
        "aud": [token.audience] if token.audience else [],
        "iss": "skiff-placeholder",
        "sub": f"system:serviceaccount:{namespace}:{account}",
        "kubernetes.io": {"namespace": namespace,
                          "pod": {"name": pod.metadata.name, "uid": pod.metadata.uid},
                          "serviceaccount": {"name": account}},
    }
    header = {"alg": "none", "typ": "JWT"}
    parts = [base64.urlsafe_b64encode(json.dumps(part, sort_keys=True, separators=(",", ":")).encode())
             .rstrip(b"=") for part in (header, claims)]
    return b".".join(parts) + b"."


# ---- helpers: emptyDir


async def _setup_empty_dir(target: Path, volume: core_pb2.Volume, pod_uid: str) -> Path:
    medium = volume.empty_dir.medium
    if medium not in ("", "Memory"):
        raise VolumeError(f'unsupported emptyDir medium "{medium}"', volume=volume.name)
    if medium == "Memory" and os.geteuid() != 0:
        return _shm_dir(target, pod_uid)
    target.mkdir(parents=True, exist_ok=True)
    if medium == "Memory" and not os.path.ismount(target):
        await _mount_tmpfs(target, volume.empty_dir.size_limit, volume.name)
    target.chmod(0o777)
    return target


def _shm_dir(target: Path, pod_uid: str) -> Path:
    """Not root: a directory on /dev/shm, with a symlink from the volume's usual place."""
    real = SHM_ROOT / pod_uid / target.name
    real.mkdir(parents=True, exist_ok=True)
    real.chmod(0o777)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.is_symlink():
        target.symlink_to(real)
    return real


async def _mount_tmpfs(target: Path, size_limit: str, volume: str) -> None:
    try:
        options = ["-o", f"size={parse_quantity(size_limit).int_value()}"] if size_limit else []
    except ValueError as exc:
        raise VolumeError(f"invalid emptyDir sizeLimit {size_limit!r}: {exc}", volume=volume) from exc
    code, output = await _run("mount", "-t", "tmpfs", *options, "tmpfs", str(target))
    if code != 0:
        raise VolumeError(f"mount failed: exit status {code}\nMounting command: mount\nOutput: {output}",
                          volume=volume)


async def _release_memory_volume(entry: Path) -> None:
    if entry.is_symlink():
        return  # a /dev/shm directory; removed with the pod's SHM_ROOT directory
    if os.path.ismount(entry):
        code, output = await _run("umount", str(entry))
        if code != 0:
            raise VolumeError(f"unmount failed: {output}", volume=entry.name)


async def _run(*command: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.STDOUT)
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode(errors="replace").strip()


def _remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


# ---- helpers: hostPath


def _setup_host_path(volume: core_pb2.Volume) -> Path:
    path, kind = volume.host_path.path, volume.host_path.type
    if ".." in path.split("/"):
        raise VolumeError(f"invalid HostPath `{path}`: must not contain '..'", volume=volume.name)
    try:
        _check_host_path_type(path, kind)
    except OSError as exc:
        raise VolumeError(f"hostPath {path}: {exc.strerror}", volume=volume.name) from exc
    except VolumeError as exc:
        exc.volume = volume.name
        raise
    return Path(path)


def _check_host_path_type(path: str, kind: str) -> None:
    """Kubernetes' ``checkType``: create when asked to, else the path must be of ``kind``."""
    if kind == "":
        return
    if kind == "DirectoryOrCreate":
        if not os.path.exists(path):
            os.makedirs(path, mode=0o755, exist_ok=True)
        kind = "Directory"
    elif kind == "FileOrCreate":
        if not os.path.exists(path):
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
        kind = "File"
    if kind not in _HOST_PATH_KINDS:
        raise VolumeError(f"{kind} is an invalid volume type")
    description, matches = _HOST_PATH_KINDS[kind]
    if not os.path.exists(path):
        raise VolumeError(f"hostPath {path} doesn't exist")
    mode = os.stat(path).st_mode
    if not matches(mode):
        raise VolumeError(f"hostPath type check failed: {path} is not a {description}, it's a {_file_type(mode)}")


def _file_type(mode: int) -> str:
    for name, (_, matches) in _HOST_PATH_KINDS.items():
        if matches(mode):
            return name
    return "unknown"


# ---- helpers: mounts


def _forced_read_only(volume: core_pb2.Volume) -> bool:
    source = volume_source(volume)
    if source in _ALWAYS_READ_ONLY:
        return True
    return source == "persistent_volume_claim" and volume.persistent_volume_claim.read_only


def _sub_path(mount: core_pb2.VolumeMount, env: list[tuple[str, str]]) -> str:
    """``subPath``, or ``subPathExpr`` expanded (``ExpandContainerVolumeMounts``)."""
    if not mount.sub_path_expr:
        return mount.sub_path
    values = dict(env)
    missing: set[str] = set()

    def mapping(name: str) -> str:
        if not values.get(name):
            missing.add(name)
        return values.get(name, "")

    expanded = expand_with(mount.sub_path_expr, mapping)
    if missing:
        raise ContainerConfigError(f"missing value for {', '.join(sorted(missing))}")
    return expanded


def _with_sub_path(volume_path: Path, sub_path: str, mount: core_pb2.VolumeMount,
                   container: core_pb2.Container) -> Path:
    if not sub_path:
        return volume_path
    if sub_path.startswith("/"):
        raise ContainerConfigError(f"error SubPath `{sub_path}` must not be an absolute path")
    if ".." in sub_path.split("/"):
        raise ContainerConfigError(f"unable to provision SubPath `{sub_path}`: must not contain '..'")
    host_path = volume_path / sub_path
    root = os.path.realpath(volume_path)
    if not os.path.lexists(host_path):
        host_path.mkdir(parents=True, exist_ok=True)
    real = os.path.realpath(host_path)
    if real != root and not real.startswith(root.rstrip("/") + "/"):
        raise ContainerConfigError(
            f'failed to prepare subPath for volumeMount "{mount.name}" of container "{container.name}"')
    return host_path
