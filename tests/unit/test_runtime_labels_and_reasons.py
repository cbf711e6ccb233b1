"""What every runtime shares: Kubernetes' terminated reason and the labels on sandboxes and containers."""

from __future__ import annotations

import pytest

from kubelet.runtime.docker import container_state
from kubelet.runtime.fake import FakeBehavior, FakeRuntime
from kubelet.runtime.interface import (
    LABEL_ATTEMPT,
    LABEL_CONTAINER_NAME,
    LABEL_NODE,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    LABEL_RUNTIME,
    ContainerConfig,
    ContainerInfo,
    Sandbox,
    SandboxConfig,
    State,
    terminated_reason,
)
from kubelet.runtime.labels import container_labels, sandbox_labels
from kubelet.status import ContainerView, container_status


@pytest.mark.parametrize(("exit_code", "oom", "reason"), [
    (0, False, "Completed"),
    (1, False, "Error"),
    (137, False, "Error"),
    (143, False, "Error"),
    (-1, False, "Error"),
    (137, True, "OOMKilled"),
    (0, True, "OOMKilled"),  # OOMKilled wins, whatever the exit code
])
def test_terminated_reason(exit_code: int, oom: bool, reason: str) -> None:
    assert terminated_reason(exit_code, oom=oom) == reason


def test_docker_state_uses_the_terminated_reason() -> None:
    assert container_state({"Status": "exited", "ExitCode": 0, "OOMKilled": True}) == (State.EXITED, 0, "OOMKilled")
    assert container_state({"Status": "dead", "ExitCode": 2}) == (State.EXITED, 2, "Error")


@pytest.mark.parametrize(("exit_code", "reason"), [(0, "Completed"), (3, "Error")])
def test_status_falls_back_to_the_terminated_reason_when_the_runtime_gave_none(exit_code: int, reason: str) -> None:
    info = ContainerInfo(id="c1", name="app", pod_uid="u", attempt=0, state=State.EXITED, exit_code=exit_code)
    assert container_status(ContainerView(name="app", image="busybox", current=info)).state.terminated.reason == reason


async def test_fake_runtime_reasons() -> None:
    fake = FakeRuntime(clock=lambda: 100.0)
    fake.behavior["hog"] = FakeBehavior(oom=True)
    sandbox = await fake.run_sandbox(SandboxConfig(pod_uid="u", namespace="ns", name="p", hostname="p"))
    hog = await fake.start_container(sandbox, ContainerConfig(name="hog", image="i", command=["x"], args=[], env=[]))
    app = await fake.start_container(sandbox, ContainerConfig(name="app", image="i", command=["x"], args=[], env=[]))
    assert ((await fake.container_info(hog)).exit_code, (await fake.container_info(hog)).reason) == (137, "OOMKilled")
    await fake.stop_container(app, 0)
    assert ((await fake.container_info(app)).exit_code, (await fake.container_info(app)).reason) == (143, "Error")


def test_sandbox_labels_are_the_pods_identity_over_the_callers_labels() -> None:
    config = SandboxConfig(pod_uid="u1", namespace="ns", name="web", hostname="web", node_name="node-a",
                           labels={"extra": "kept", LABEL_POD_UID: "ignored"})
    assert sandbox_labels(config, node_name="fallback") == {
        "extra": "kept", LABEL_POD_UID: "u1", LABEL_POD_NAME: "web", LABEL_POD_NAMESPACE: "ns", LABEL_NODE: "node-a"}
    unnamed = SandboxConfig(pod_uid="u1", namespace="ns", name="web", hostname="web")
    assert sandbox_labels(unnamed, node_name="fallback")[LABEL_NODE] == "fallback"


def test_container_labels_come_from_the_sandbox_and_the_config() -> None:
    sandbox = Sandbox(id="sb", pod_uid="u1", ip="10.0.0.2", labels={
        LABEL_POD_UID: "u1", LABEL_POD_NAME: "web", LABEL_POD_NAMESPACE: "ns", LABEL_NODE: "node-a",
        LABEL_CONTAINER_NAME: "POD", "io.skiff.pause": "true"})
    config = ContainerConfig(name="app", image="i", command=[], args=[], env=[], attempt=3,
                             labels={LABEL_RUNTIME: "docker", LABEL_POD_NAME: "ignored"})
    assert container_labels(sandbox, config, node_name="fallback") == {
        LABEL_RUNTIME: "docker", LABEL_POD_UID: "u1", LABEL_POD_NAME: "web", LABEL_POD_NAMESPACE: "ns",
        LABEL_NODE: "node-a", LABEL_CONTAINER_NAME: "app", LABEL_ATTEMPT: "3"}
    bare = Sandbox(id="sb", pod_uid="u2", ip="10.0.0.3")
    assert container_labels(bare, config, node_name="fallback") == {
        LABEL_RUNTIME: "docker", LABEL_POD_UID: "u2", LABEL_POD_NAME: "", LABEL_POD_NAMESPACE: "",
        LABEL_NODE: "fallback", LABEL_CONTAINER_NAME: "app", LABEL_ATTEMPT: "3"}


async def test_the_fake_runtime_stamps_the_shared_labels() -> None:
    fake = FakeRuntime(node_name="node-b")
    config = SandboxConfig(pod_uid="u1", namespace="ns", name="web", hostname="web")
    sandbox = await fake.run_sandbox(config)
    assert sandbox.labels == sandbox_labels(config, node_name="node-b")
    container = ContainerConfig(name="app", image="i", command=["x"], args=[], env=[], attempt=1,
                                labels={LABEL_RUNTIME: "fake"})
    info = await fake.container_info(await fake.start_container(sandbox, container))
    assert info.labels == container_labels(sandbox, container) and info.labels[LABEL_NODE] == "node-b"
