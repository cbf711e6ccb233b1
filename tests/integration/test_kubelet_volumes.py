"""kubelet/volumes.py against a real apiserver: configMap, secret, downwardAPI, projected, PVC,
emptyDir and hostPath volumes, refresh after object changes, teardown, and mounts."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from kubelet import volumes
from kubelet.env import ContainerConfigError
from kubelet.runtime.interface import Mount
from kubelet.volumes import VolumeError, VolumeManager
from skiff.api.v1 import core_pb2
from skiff.client.client import Client
from tests.support.cluster import obj


@pytest.fixture
def manager(client: Client, tmp_path: Path) -> VolumeManager:
    return VolumeManager(client, tmp_path / "kubelet", allocatable={"cpu": "4", "memory": "8Gi"})


async def create_config_map(client: Client, name: str, data: dict[str, str],
                            binary: dict[str, bytes] | None = None) -> core_pb2.ConfigMap:
    cm = core_pb2.ConfigMap(data=data, binary_data=binary or {})
    cm.metadata.name, cm.metadata.namespace = name, "default"
    return await client.create(cm)


async def create_secret(client: Client, name: str, data: dict[str, bytes]) -> core_pb2.Secret:
    s = core_pb2.Secret(data=data, type="Opaque")
    s.metadata.name, s.metadata.namespace = name, "default"
    return await client.create(s)


def make_pod(*volumes: core_pb2.Volume, uid: str = "pod-uid-1") -> core_pb2.Pod:
    pod = core_pb2.Pod()
    pod.metadata.name, pod.metadata.namespace, pod.metadata.uid = "web-0", "default", uid
    pod.metadata.labels.update({"app": "web", "tier": "front"})
    pod.metadata.annotations["build"] = "42"
    pod.spec.volumes.extend(volumes)
    container = pod.spec.containers.add(name="app", image="busybox")
    container.resources.limits["memory"] = "64Mi"
    return pod


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def visible(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())
            if not p.name.startswith("..") and p.is_file()}


# ---- configMap and secret


async def test_config_map_volume_appears_and_follows_updates(client: Client, manager: VolumeManager) -> None:
    cm = await create_config_map(client, "app-config", {"app.conf": "debug=true\n", "mode": "dev"},
                                 {"blob": b"\x00\x01"})
    pod = make_pod(core_pb2.Volume(name="cfg", config_map=core_pb2.ConfigMapVolumeSource(name="app-config")))
    paths = await manager.setup(pod)

    target = paths["cfg"]
    assert target == manager.root_dir / "pods/pod-uid-1/volumes/kubernetes.io~configmap/cfg"
    assert visible(target) == {"app.conf": b"debug=true\n", "blob": b"\x00\x01", "mode": b"dev"}
    assert mode_of(target / "mode") == 0o644
    first = os.readlink(target / "..data")

    await manager.refresh(pod)  # unchanged: nothing rewritten
    assert os.readlink(target / "..data") == first

    cm.data["mode"] = "prod"
    del cm.data["app.conf"]
    await client.update(cm)
    await manager.refresh(pod)
    assert visible(target) == {"blob": b"\x00\x01", "mode": b"prod"}
    assert not os.path.lexists(target / "app.conf")
    assert os.readlink(target / "..data") != first


async def test_items_paths_and_modes(client: Client, manager: VolumeManager) -> None:
    await create_config_map(client, "cfg", {"a": "A", "b": "B", "c": "C"})
    await create_secret(client, "creds", {"user": b"admin", "pass": b"pw"})
    pod = make_pod(
        core_pb2.Volume(name="cfg", config_map=core_pb2.ConfigMapVolumeSource(
            name="cfg", default_mode=0o600,
            items=[core_pb2.KeyToPath(key="a", path="conf/a.txt"), core_pb2.KeyToPath(key="b", path="b", mode=0o400)])),
        core_pb2.Volume(name="sec", secret=core_pb2.SecretVolumeSource(secret_name="creds")),
    )
    paths = await manager.setup(pod)
    cfg, sec = paths["cfg"], paths["sec"]
    assert (cfg / "conf" / "a.txt").read_bytes() == b"A"
    assert mode_of(cfg / "conf" / "a.txt") == 0o600
    assert mode_of(cfg / "b") == 0o400
    assert not os.path.lexists(cfg / "c")
    assert sec.parent.name == "kubernetes.io~secret"
    assert visible(sec) == {"pass": b"pw", "user": b"admin"}
    assert mode_of(sec / "user") == 0o644  # Kubernetes' defaultMode 420


async def test_missing_objects_and_keys(client: Client, manager: VolumeManager) -> None:
    await create_config_map(client, "cfg", {"a": "A"})
    cases = [
        (core_pb2.Volume(name="v", config_map=core_pb2.ConfigMapVolumeSource(name="nope")),
         'configmap "nope" not found'),
        (core_pb2.Volume(name="v", secret=core_pb2.SecretVolumeSource(secret_name="nope")),
         'secret "nope" not found'),
        (core_pb2.Volume(name="v", config_map=core_pb2.ConfigMapVolumeSource(
            name="cfg", items=[core_pb2.KeyToPath(key="zz", path="zz")])),
         "configmap references non-existent config key: zz"),
        (core_pb2.Volume(name="v", persistent_volume_claim=core_pb2.PersistentVolumeClaimVolumeSource(
            claim_name="data")), 'persistentvolumeclaim "data" not found'),
    ]
    for volume, message in cases:
        with pytest.raises(VolumeError) as info:
            await manager.setup(make_pod(volume))
        assert info.value.message == message
        assert info.value.reason == "FailedMount"
        assert info.value.event_message() == f'MountVolume.SetUp failed for volume "v" : {message}'


async def test_optional_missing_is_empty_until_the_object_appears(client: Client, manager: VolumeManager) -> None:
    pod = make_pod(
        core_pb2.Volume(name="cfg", config_map=core_pb2.ConfigMapVolumeSource(name="later", optional=True)),
        core_pb2.Volume(name="sec", secret=core_pb2.SecretVolumeSource(
            secret_name="creds", optional=True, items=[core_pb2.KeyToPath(key="absent", path="x")])),
    )
    await create_secret(client, "creds", {"present": b"1"})
    paths = await manager.setup(pod)
    assert visible(paths["cfg"]) == {}
    assert visible(paths["sec"]) == {}  # the optional key is missing: skipped

    await create_config_map(client, "later", {"k": "v"})
    await manager.refresh(pod)
    assert visible(paths["cfg"]) == {"k": b"v"}


async def test_refresh_keeps_files_when_the_object_is_deleted(client: Client, manager: VolumeManager) -> None:
    await create_config_map(client, "cfg", {"k": "v"})
    pod = make_pod(core_pb2.Volume(name="cfg", config_map=core_pb2.ConfigMapVolumeSource(name="cfg")))
    paths = await manager.setup(pod)
    await client.delete(core_pb2.ConfigMap, "cfg", namespace="default")
    with pytest.raises(VolumeError, match='configmap "cfg" not found'):
        await manager.refresh(pod)
    assert visible(paths["cfg"]) == {"k": b"v"}


# ---- downwardAPI and projected


def field_item(path: str, field: str, mode: int | None = None) -> core_pb2.DownwardAPIVolumeFile:
    item = core_pb2.DownwardAPIVolumeFile(path=path, field_ref=core_pb2.ObjectFieldSelector(field_path=field))
    if mode is not None:
        item.mode = mode
    return item


async def test_downward_api_files(manager: VolumeManager) -> None:
    limit = core_pb2.DownwardAPIVolumeFile(path="mem_limit", resource_field_ref=core_pb2.ResourceFieldSelector(
        container_name="app", resource="limits.memory", divisor="1Mi"))
    cpu = core_pb2.DownwardAPIVolumeFile(path="cpu_limit", resource_field_ref=core_pb2.ResourceFieldSelector(
        container_name="app", resource="limits.cpu"))
    pod = make_pod(core_pb2.Volume(name="info", downward_api=core_pb2.DownwardAPIVolumeSource(items=[
        field_item("labels", "metadata.labels"), field_item("annotations", "metadata.annotations"),
        field_item("name", "metadata.name", mode=0o600), field_item("ns", "metadata.namespace"),
        field_item("uid", "metadata.uid"), field_item("app", "metadata.labels['app']"), limit, cpu])))
    paths = await manager.setup(pod)
    info = paths["info"]
    assert visible(info) == {
        "annotations": b'build="42"', "app": b"web", "cpu_limit": b"4", "labels": b'app="web"\ntier="front"',
        "mem_limit": b"64", "name": b"web-0", "ns": b"default", "uid": b"pod-uid-1"}
    assert mode_of(info / "name") == 0o600
    assert mode_of(info / "uid") == 0o644

    pod.metadata.labels["tier"] = "back"
    await manager.refresh(pod)
    assert (info / "labels").read_bytes() == b'app="web"\ntier="back"'


async def test_downward_api_errors(manager: VolumeManager) -> None:
    pod = make_pod(core_pb2.Volume(name="info", downward_api=core_pb2.DownwardAPIVolumeSource(items=[
        field_item("a", "spec.nodeName"), field_item("b", "status.phase")])))
    with pytest.raises(VolumeError) as info:
        await manager.setup(pod)
    assert info.value.message == "[unsupported fieldPath: spec.nodeName, unsupported fieldPath: status.phase]"


async def test_projected_volume(client: Client, manager: VolumeManager) -> None:
    await create_config_map(client, "cfg", {"a": "A"})
    await create_secret(client, "sec", {"s": b"S"})
    pod = make_pod(core_pb2.Volume(name="all", projected=core_pb2.ProjectedVolumeSource(default_mode=0o440, sources=[
        core_pb2.VolumeProjection(config_map=core_pb2.ConfigMapProjection(name="cfg")),
        core_pb2.VolumeProjection(secret=core_pb2.SecretProjection(
            name="sec", items=[core_pb2.KeyToPath(key="s", path="secret/s", mode=0o400)])),
        core_pb2.VolumeProjection(secret=core_pb2.SecretProjection(name="opt", optional=True)),
        core_pb2.VolumeProjection(downward_api=core_pb2.DownwardAPIProjection(
            items=[field_item("name", "metadata.name")])),
        core_pb2.VolumeProjection(service_account_token=core_pb2.ServiceAccountTokenProjection(
            path="token", audience="api")),
    ])))
    paths = await manager.setup(pod)
    volume = paths["all"]
    assert volume.parent.name == "kubernetes.io~projected"
    assert (volume / "a").read_bytes() == b"A"
    assert (volume / "secret" / "s").read_bytes() == b"S"
    assert mode_of(volume / "secret" / "s") == 0o400
    assert (volume / "name").read_bytes() == b"web-0"
    assert mode_of(volume / "name") == 0o440
    token = (volume / "token").read_bytes()
    assert token.count(b".") == 2 and token.endswith(b".")
    before = os.readlink(volume / "..data")
    await manager.refresh(pod)  # the placeholder token is stable: no rewrite
    assert os.readlink(volume / "..data") == before

    missing = make_pod(core_pb2.Volume(name="p", projected=core_pb2.ProjectedVolumeSource(sources=[
        core_pb2.VolumeProjection(config_map=core_pb2.ConfigMapProjection(name="ghost"))])), uid="other")
    with pytest.raises(VolumeError, match='^configmap "ghost" not found$'):
        await manager.setup(missing)


# ---- persistentVolumeClaim, emptyDir, teardown


async def test_claim_directory_survives_teardown(client: Client, manager: VolumeManager) -> None:
    await client.create(obj({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "default"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}))
    pod = make_pod(
        core_pb2.Volume(name="data", persistent_volume_claim=core_pb2.PersistentVolumeClaimVolumeSource(
            claim_name="data")),
        core_pb2.Volume(name="scratch", empty_dir=core_pb2.EmptyDirVolumeSource()),
    )
    paths = await manager.setup(pod)
    assert paths["data"] == manager.root_dir / "pvc" / "default" / "data"
    assert mode_of(paths["scratch"]) == 0o777
    (paths["data"] / "db").write_text("rows")
    (paths["scratch"] / "tmp").write_text("x")

    await manager.teardown("pod-uid-1")
    assert not (manager.root_dir / "pods" / "pod-uid-1").exists()
    assert (paths["data"] / "db").read_text() == "rows"

    again = await manager.setup(make_pod(*pod.spec.volumes, uid="pod-uid-2"))
    assert (again["data"] / "db").read_text() == "rows"
    assert list(again["scratch"].iterdir()) == []


async def test_volume_without_source_is_an_empty_dir(manager: VolumeManager) -> None:
    paths = await manager.setup(make_pod(core_pb2.Volume(name="plain")))
    assert paths["plain"].is_dir() and paths["plain"].parent.name == "kubernetes.io~empty-dir"


@pytest.mark.skipif(os.geteuid() != 0, reason="tmpfs mounts need root")
async def test_memory_empty_dir_is_a_tmpfs_until_teardown(manager: VolumeManager) -> None:
    pod = make_pod(core_pb2.Volume(name="shm", empty_dir=core_pb2.EmptyDirVolumeSource(
        medium="Memory", size_limit="1Mi")))
    try:
        paths = await manager.setup(pod)
    except VolumeError as exc:
        pytest.skip(f"cannot mount tmpfs here: {exc}")
    path = paths["shm"]
    assert os.path.ismount(path)
    assert os.statvfs(path).f_blocks * os.statvfs(path).f_frsize == 1024 * 1024
    await manager.setup(pod)  # idempotent: not mounted twice
    await manager.teardown("pod-uid-1")
    assert not os.path.ismount(path) and not path.exists()


async def test_memory_empty_dir_without_root_lives_on_shm(manager: VolumeManager, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(volumes, "SHM_ROOT", tmp_path / "shm")
    pod = make_pod(core_pb2.Volume(name="shm", empty_dir=core_pb2.EmptyDirVolumeSource(medium="Memory")))
    paths = await manager.setup(pod)
    assert paths["shm"] == tmp_path / "shm" / "pod-uid-1" / "shm"
    assert paths["shm"].is_dir() and not os.path.ismount(paths["shm"])
    assert (manager.pod_volumes_dir("pod-uid-1") / "kubernetes.io~empty-dir" / "shm").resolve() == paths["shm"]
    assert (await manager.setup(pod))["shm"] == paths["shm"]
    await manager.teardown("pod-uid-1")
    assert not (tmp_path / "shm" / "pod-uid-1").exists()
    assert not (manager.root_dir / "pods" / "pod-uid-1").exists()


# ---- hostPath


def host_path(path: Path | str, kind: str = "") -> core_pb2.Volume:
    return core_pb2.Volume(name="host", host_path=core_pb2.HostPathVolumeSource(path=str(path), type=kind))


async def test_host_path_types(manager: VolumeManager, tmp_path: Path) -> None:
    directory, file = tmp_path / "dir", tmp_path / "file"
    directory.mkdir()
    file.write_text("x")
    sock_path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        ok = [(directory, "Directory"), (file, "File"), (sock_path, "Socket"), (Path("/dev/null"), "CharDevice"),
              (tmp_path / "anything", "")]
        for path, kind in ok:
            assert (await manager.setup(make_pod(host_path(path, kind))))["host"] == path

    created_dir, created_file = tmp_path / "new" / "d", tmp_path / "newfile"
    await manager.setup(make_pod(host_path(created_dir, "DirectoryOrCreate")))
    await manager.setup(make_pod(host_path(created_file, "FileOrCreate")))
    assert created_dir.is_dir() and created_file.is_file()

    failures = [
        (host_path(file, "Directory"), f"hostPath type check failed: {file} is not a directory, it's a File"),
        (host_path(directory, "File"), f"hostPath type check failed: {directory} is not a file, it's a Directory"),
        (host_path(file, "DirectoryOrCreate"), f"hostPath type check failed: {file} is not a directory, it's a File"),
        (host_path(file, "Socket"), f"hostPath type check failed: {file} is not a socket file, it's a File"),
        (host_path(file, "BlockDevice"), f"hostPath type check failed: {file} is not a block device, it's a File"),
        (host_path(file, "CharDevice"),
         f"hostPath type check failed: {file} is not a character device, it's a File"),
        (host_path(tmp_path / "missing", "Directory"), f"hostPath {tmp_path / 'missing'} doesn't exist"),
        (host_path(file, "Weird"), "Weird is an invalid volume type"),
        (host_path("/tmp/../etc"), "invalid HostPath `/tmp/../etc`: must not contain '..'"),
    ]
    for volume, message in failures:
        with pytest.raises(VolumeError) as info:
            await manager.setup(make_pod(volume))
        assert info.value.message == message
        assert info.value.volume == "host"


# ---- mounts


async def test_mounts_with_sub_paths_and_read_only(client: Client, manager: VolumeManager) -> None:
    await create_config_map(client, "cfg", {"app.conf": "x"})
    pod = make_pod(core_pb2.Volume(name="cfg", config_map=core_pb2.ConfigMapVolumeSource(name="cfg")),
                   core_pb2.Volume(name="work", empty_dir=core_pb2.EmptyDirVolumeSource()))
    container = pod.spec.containers[0]
    container.volume_mounts.extend([
        core_pb2.VolumeMount(name="cfg", mount_path="/etc/app"),
        core_pb2.VolumeMount(name="cfg", mount_path="/etc/app.conf", sub_path="app.conf"),
        core_pb2.VolumeMount(name="work", mount_path="/work", read_only=True),
        core_pb2.VolumeMount(name="work", mount_path="/logs", sub_path_expr="logs/$(POD_NAME)"),
    ])
    paths = await manager.setup(pod)
    mounts = manager.mounts(pod, container, paths, env=[("POD_NAME", "web-0")])
    assert mounts == [
        Mount(str(paths["cfg"]), "/etc/app", True),
        Mount(str(paths["cfg"] / "app.conf"), "/etc/app.conf", True),
        Mount(str(paths["work"]), "/work", True),
        Mount(str(paths["work"] / "logs" / "web-0"), "/logs", False),
    ]
    assert (paths["work"] / "logs" / "web-0").is_dir()

    def mount_error(mount: core_pb2.VolumeMount, env: list[tuple[str, str]] | None = None) -> str:
        bad = core_pb2.Container(name="app", volume_mounts=[mount])
        with pytest.raises(ContainerConfigError) as info:
            manager.mounts(pod, bad, paths, env=env)
        return info.value.message

    assert mount_error(core_pb2.VolumeMount(name="ghost", mount_path="/x")) == (
        'cannot find volume "ghost" to mount into container "app"')
    assert mount_error(core_pb2.VolumeMount(name="work", mount_path="/x", sub_path="/abs")) == (
        "error SubPath `/abs` must not be an absolute path")
    assert mount_error(core_pb2.VolumeMount(name="work", mount_path="/x", sub_path="a/../../b")) == (
        "unable to provision SubPath `a/../../b`: must not contain '..'")
    assert mount_error(core_pb2.VolumeMount(name="work", mount_path="/x", sub_path_expr="$(A)/$(B)"),
                       env=[("A", "")]) == "missing value for A, B"
    os.symlink("/etc", paths["work"] / "escape")
    assert mount_error(core_pb2.VolumeMount(name="work", mount_path="/x", sub_path="escape")) == (
        'failed to prepare subPath for volumeMount "work" of container "app"')
