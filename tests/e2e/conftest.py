"""End-to-end fixtures: a control plane of real processes shared by a test module, and a fresh
namespace per test so tests do not see each other's objects."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_kubelet import KubeletThread
from tests.support.processes import ControlPlane, running_plane

FAKE_NODE = "e2e-node"
"""The Node of the :func:`kubelet` fixture."""


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    yield from running_plane()


@pytest.fixture
def ns(plane: ControlPlane) -> str:
    """A namespace of this test's own."""
    return plane.new_namespace()


@pytest.fixture(scope="module")
def kubelet(plane: ControlPlane) -> Iterator[KubeletThread]:
    """A fake kubelet (this process, its own thread and event loop) registered as the Node
    ``FAKE_NODE``, which the apiserver relays logs and exec to; its exec runs commands here."""
    thread = KubeletThread()
    thread.start()
    plane.ctl("create", "-f", "-", stdin=f"""
apiVersion: v1
kind: Node
metadata: {{name: {FAKE_NODE}}}
status:
  addresses: [{{type: InternalIP, address: 127.0.0.1}}]
  daemonEndpoints: {{kubeletEndpoint: {{Port: {thread.port}}}}}
""")
    try:
        yield thread
    finally:
        thread.stop()


def bound_pod(plane: ControlPlane, ns: str, name: str, *containers: str, labels: str = "{}",
              node: str = FAKE_NODE) -> None:
    """A pod already bound to ``node`` (no scheduler in the plane), busybox containers named so."""
    listed = ", ".join(f"{{name: {c}, image: busybox}}" for c in containers)
    plane.ctl("create", "-n", ns, "-f", "-", stdin=f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {labels}}}
spec:
  nodeName: {node}
  containers: [{listed}]
""")
