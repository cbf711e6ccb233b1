"""Secrets at rest: encrypted in etcd in kube-apiserver's format, plaintext through the API, and
a key rotation (new key first, restart, re-encrypt, retire the old key) that loses nothing."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path
from typing import Any

from skiff.api.v1 import core_pb2
from tests.support.cluster import client_for, obj, running_apiserver
from tests.support.samples import sample


def _config(path: Path, keys: list[tuple[str, bytes]]) -> str:
    key_lines = "".join(f"            - name: {name}\n              secret: {base64.b64encode(secret).decode()}\n"
                        for name, secret in keys)
    path.write_text("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
                    "  - resources: [secrets]\n    providers:\n      - aesgcm:\n          keys:\n" + key_lines +
                    "      - identity: {}\n")
    return str(path)


def etcdctl_get(etcd: Any, key: str) -> bytes:
    """The raw stored value, read with the real etcdctl, as a person would check it."""
    out = subprocess.run(["etcdctl", "--endpoints", etcd.url, "get", key, "--print-value-only"],
                         env={**os.environ, "ETCDCTL_API": "3"}, capture_output=True, check=True)
    return out.stdout.rstrip(b"\n")


async def test_secret_is_encrypted_at_rest_and_plain_through_the_api(etcd: Any, tmp_path: Path) -> None:
    config = _config(tmp_path / "enc.yaml", [("key1", os.urandom(32))])
    async with running_apiserver(etcd.url, encryption_provider_config=config) as server:
        client = client_for(server)
        doc = sample("Secret", name="db")
        doc["stringData"] = {"password": "correct-horse-battery"}
        await client.create(obj(doc))
        raw = etcdctl_get(etcd, "/registry/secrets/default/db")
        assert raw.startswith(b"k8s:enc:aesgcm:v1:key1:")
        assert b"correct-horse-battery" not in raw
        got = await client.get(core_pb2.Secret, "db")
        assert got.data["password"] == b"correct-horse-battery"
        await client.create(obj(sample("ConfigMap", name="plain")))
        assert b"k8s:enc" not in etcdctl_get(etcd, "/registry/configmaps/default/plain")
        await client.close()


async def test_key_rotation_re_encrypts_and_the_old_key_can_go(etcd: Any, tmp_path: Path) -> None:
    old, new = ("key1", os.urandom(32)), ("key2", os.urandom(32))
    names = [f"s-{i}" for i in range(5)]
    async with running_apiserver(etcd.url, encryption_provider_config=_config(tmp_path / "a.yaml", [old])) as s:
        client = client_for(s)
        for name in names:
            doc = sample("Secret", name=name)
            doc["stringData"] = {"value": f"secret-{name}"}
            await client.create(obj(doc))
        await client.close()
    # new key first, old key second: both decrypt, new writes use key2
    async with running_apiserver(etcd.url, encryption_provider_config=_config(tmp_path / "b.yaml", [new, old])) as s:
        client = client_for(s)
        assert etcdctl_get(etcd, "/registry/secrets/default/s-0").startswith(b"k8s:enc:aesgcm:v1:key1:")
        for secret in (await client.list(core_pb2.Secret, namespace="default")).items:
            await client.update(secret)  # what `skiffctl get secrets -A -o json | skiffctl replace -f -` does
        for name in names:
            assert etcdctl_get(etcd, f"/registry/secrets/default/{name}").startswith(b"k8s:enc:aesgcm:v1:key2:")
        await client.close()
    # the old key removed: everything still reads
    async with running_apiserver(etcd.url, encryption_provider_config=_config(tmp_path / "c.yaml", [new])) as s:
        client = client_for(s)
        for name in names:
            got = await client.get(core_pb2.Secret, name)
            assert got.data["value"] == f"secret-{name}".encode()
        await client.close()
