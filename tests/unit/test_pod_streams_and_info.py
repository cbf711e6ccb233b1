"""Unit tests for the pieces of logs / exec / info that need no server: how the apiserver picks a
container and finds a kubelet, how skiffctl picks a pod and parses ``exec ... -- CMD``, and what
``explain`` reads from the proto descriptors."""

from __future__ import annotations

import pytest

from apiserver.server.podproxy import choose_container, kubelet_endpoint
from skiff.api import errors
from skiff.api.v1 import apps_pb2, core_pb2, resources_pb2
from skiff.cli import targetpods
from skiff.cli.commands import info
from skiff.cli.context import UsageError
from skiff.cli.main import build_parser
from tests.support.fake_kubelet import node_for, pod_with


def test_choose_container() -> None:
    assert choose_container(pod_with("web", "app"), "") == "app"
    assert choose_container(pod_with("web", "a", "b"), "b") == "b"
    with pytest.raises(errors.BadRequest, match=r"^a container name must be specified for pod web, "
                                                r"choose one of: \[a b\]$"):
        choose_container(pod_with("web", "a", "b"), "")
    with pytest.raises(errors.BadRequest, match="^container c is not valid for pod web$"):
        choose_container(pod_with("web", "a"), "c")
    with_init = pod_with("web", "a", "b")
    with_init.spec.init_containers.add(name="setup")
    assert choose_container(with_init, "setup") == "setup"
    with pytest.raises(errors.BadRequest, match=r"or one of the init containers: \[setup\]$"):
        choose_container(with_init, "")


def test_kubelet_endpoint_prefers_internal_ip() -> None:
    assert kubelet_endpoint(node_for("n1", 10255, host="10.0.0.5")) == "10.0.0.5:10255"
    node = core_pb2.Node()
    node.metadata.name = "n2"
    node.status.addresses.add(type="Hostname", address="n2.local")
    assert kubelet_endpoint(node) == "n2.local:10250"  # no port: the kubelet's default
    node.status.addresses.add(type="InternalIP", address="fd00::1")
    assert kubelet_endpoint(node) == "[fd00::1]:10250"
    bare = core_pb2.Node()
    bare.metadata.name = "n3"
    with pytest.raises(errors.ServiceUnavailable, match="^node n3 has no address to reach its kubelet$"):
        kubelet_endpoint(bare)


def _pod(name: str, *, node: str = "", phase: str = "", created: str = "2026-01-01T00:00:00Z") -> core_pb2.Pod:
    pod = pod_with(name, "c")
    pod.spec.node_name = node
    pod.status.phase = phase
    pod.metadata.creation_timestamp = created
    return pod


def test_logging_order_prefers_bound_running_then_oldest() -> None:
    pods = [_pod("pending", node="n", phase="Pending"), _pod("unbound", phase="Running"),
            _pod("young", node="n", phase="Running", created="2026-02-01T00:00:00Z"),
            _pod("old", node="n", phase="Running", created="2026-01-01T00:00:00Z")]
    assert [p.metadata.name for p in targetpods.best_first(pods)] == ["old", "young", "pending", "unbound"]


def test_selector_of_workloads_and_services() -> None:
    deploy = apps_pb2.Deployment()
    deploy.spec.selector.match_labels["app"] = "web"
    assert targetpods.selector_of(deploy) == "app=web"
    service = core_pb2.Service()
    service.spec.selector.update({"tier": "db", "app": "x"})
    assert targetpods.selector_of(service) == "app=x,tier=db"


@pytest.mark.parametrize(("argv", "target", "command", "namespace"), [
    (["exec", "web", "--", "sh", "-c", "echo -n hi"], "web", ["sh", "-c", "echo -n hi"], None),
    (["exec", "-n", "x", "web", "-i", "--", "grep", "--", "-n"], "web", ["grep", "--", "-n"], "x"),
    (["-n", "y", "exec", "pod/web", "--", "ls"], "pod/web", ["ls"], "y"),
])
def test_exec_command_after_dashes(argv: list[str], target: str, command: list[str], namespace: str | None) -> None:
    args = build_parser().parse_args(argv)
    assert (args.target, args.command, args.namespace) == (target, command, namespace)


def test_exec_without_dashes_is_refused_like_kubectl(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["exec", "web", "ls"])
    assert "exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- [COMMAND] instead" in \
        capsys.readouterr().err


def test_explain_types_from_descriptors() -> None:
    spec = core_pb2.PodSpec.DESCRIPTOR.fields_by_name
    assert info.type_name(spec["containers"]) == "[]Container"
    assert info.type_name(spec["node_selector"]) == "map[string]string"
    assert info.type_name(spec["termination_grace_period_seconds"]) == "integer"
    assert info.type_name(spec["automount_service_account_token"]) == "boolean"
    out = info.explain("deployments.apps.spec.template.spec.containers.ports")
    assert out.splitlines()[:3] == ["KIND:       Deployment", "GROUP:      apps", "VERSION:    v1"]
    assert "FIELD: ports <[]ContainerPort>" in out and "  containerPort\t<integer>" in out
    with pytest.raises(UsageError, match='field "replicas" does not exist'):
        info.explain("pods.spec.replicas")
    with pytest.raises(UsageError, match='resource type "widgets"'):
        info.explain("widgets")


def test_explain_recursive_indents_nested_fields() -> None:
    lines = info.explain("pods.spec.containers", recursive=True).splitlines()
    ports = lines.index("  ports\t<[]ContainerPort>")
    assert lines[ports + 1].startswith("    ") and "containerPort" in "".join(lines[ports + 1:ports + 6])


def test_discovery_order_core_first_then_groups_as_served() -> None:
    r = resources_pb2.APIResource
    served = [r(name="jobs", group="batch"), r(name="pods"), r(name="deployments", group="apps"),
              r(name="cronjobs", group="batch"), r(name="configmaps")]
    assert [x.name for x in info._discovery_order(served)] == ["configmaps", "pods", "cronjobs", "jobs", "deployments"]
