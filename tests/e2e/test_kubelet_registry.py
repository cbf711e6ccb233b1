"""Image pulls from a real registry: a local one (Debian's docker-registry) on a loopback port,
holding the busybox image; a pod with imagePullPolicy Always pulls and runs, and an image the
registry does not have ends in ErrImagePull, then ImagePullBackOff."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_kubelet_runtimes import Node, _docker_ready, status_of
from tests.support.processes import free_port, wait_for_port


@pytest.fixture(scope="module")
def registry() -> Iterator[str]:
    if shutil.which("docker-registry") is None or not _docker_ready():
        pytest.skip("needs docker-registry and a Docker engine (make test runs tools/ensure-docker.sh)")
    root = Path(tempfile.mkdtemp(prefix="skiff-registry-"))
    port = free_port()
    (root / "config.yml").write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\n"
                                     f"http:\n  addr: 127.0.0.1:{port}\n")
    proc = subprocess.Popen(["docker-registry", "serve", str(root / "config.yml")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    address = f"127.0.0.1:{port}"
    try:
        wait_for_port(port)
        image = f"{address}/skiff/busybox:1"
        subprocess.run(["docker", "tag", "busybox:latest", image], check=True)
        subprocess.run(["docker", "push", image], check=True, capture_output=True)
        subprocess.run(["docker", "rmi", image], check=True, capture_output=True)  # the node must pull it
        yield address
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    n = Node("docker")
    try:
        yield n
    finally:
        n.close()


def test_pull_always_from_a_registry_and_a_missing_image(node: Node, registry: str) -> None:
    ns = node.plane.new_namespace()
    manifest = (f"apiVersion: v1\nkind: Pod\nmetadata: {{name: pulled}}\nspec:\n  nodeName: {node.name}\n"
                f"  containers:\n  - name: app\n    image: {registry}/skiff/busybox:1\n    imagePullPolicy: Always\n"
                "    command: [busybox, sleep, '3600']\n")
    node.apply(manifest, ns)
    node.wait(lambda: node.pod("pulled", ns).get("status", {}).get("phase") == "Running", "the pulled pod to run")
    described = node.ctl("describe", "pod", "pulled", "-n", ns).stdout
    assert "Pulling" in described and f'Successfully pulled image "{registry}/skiff/busybox:1"' in described
    missing = manifest.replace("name: pulled", "name: missing").replace("skiff/busybox:1", "skiff/nothing:1")
    node.apply(missing, ns)
    node.wait(lambda: status_of(node.pod("missing", ns), "app").get("state", {}).get("waiting", {}).get(
        "reason") == "ImagePullBackOff", "ImagePullBackOff")
    events = node.ctl("describe", "pod", "missing", "-n", ns).stdout
    assert f'Failed to pull image "{registry}/skiff/nothing:1"' in events
    assert "Error: ErrImagePull" in events and f'Back-off pulling image "{registry}/skiff/nothing:1"' in events
