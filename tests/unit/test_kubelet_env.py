"""kubelet/env.py: every env source, $(VAR) expansion edge cases, Kubernetes' error messages."""

from __future__ import annotations

from typing import Any

import pytest

from kubelet.env import (
    ContainerConfigError,
    expand,
    expand_command,
    field_value,
    format_map,
    go_quote,
    resolve_env,
)
from skiff.api import errors
from skiff.api.v1 import core_pb2


class FakeGetter:
    """Objects by (kind, namespace, name); counts gets to check per-call caching."""

    def __init__(self, *objects: Any) -> None:
        self.objects = {(type(o), o.metadata.namespace, o.metadata.name): o for o in objects}
        self.gets = 0

    async def get(self, cls: type, name: str, *, namespace: str | None = None) -> object:
        self.gets += 1
        found = self.objects.get((cls, namespace, name))
        if found is None:
            raise errors.NotFound(f'{cls.__name__.lower()}s "{name}" not found')
        return found


def config_map(name: str, data: dict[str, str], namespace: str = "ns") -> core_pb2.ConfigMap:
    cm = core_pb2.ConfigMap(data=data)
    cm.metadata.name, cm.metadata.namespace = name, namespace
    return cm


def secret(name: str, data: dict[str, bytes], namespace: str = "ns") -> core_pb2.Secret:
    s = core_pb2.Secret(data=data)
    s.metadata.name, s.metadata.namespace = name, namespace
    return s


def make_pod(**container: Any) -> tuple[core_pb2.Pod, core_pb2.Container]:
    pod = core_pb2.Pod()
    pod.metadata.name, pod.metadata.namespace, pod.metadata.uid = "web-1", "ns", "uid-123"
    pod.metadata.labels.update({"app": "web", "tier": "front"})
    pod.metadata.annotations.update({"note": 'say "hi"\n'})
    pod.spec.service_account_name = "robot"
    c = pod.spec.containers.add(name="app", **container)
    return pod, c


async def resolve(getter: FakeGetter, pod: core_pb2.Pod, c: core_pb2.Container, **kw: Any) -> list[tuple[str, str]]:
    return await resolve_env(getter, pod, c, pod_ip="10.0.0.5", host_ip="192.168.1.2", node_name="node-a", **kw)


# ---- expansion


@pytest.mark.parametrize("text, expected", [
    ("$(A)", "a"),
    ("x$(A)y$(B)z", "xaybz"),
    ("$(NOPE)", "$(NOPE)"),
    ("$$(A)", "$(A)"),
    ("$$$(A)", "$a"),
    ("$$", "$"),
    ("$", "$"),
    ("a$", "a$"),
    ("$(A", "$(A"),
    ("$(A$(B)", "$(A$(B)"),  # the first ')' closes the name "A$(B"; unknown, kept verbatim
    ("$x$(A)", "$xa"),
    ("$()", "$()"),
    ("$(EMPTY)-", "-"),
    ("ünï$(A)cödé", "ünïacödé"),
])
def test_expand_follows_kubernetes_rules(text: str, expected: str) -> None:
    assert expand(text, {"A": "a", "B": "b", "EMPTY": ""}) == expected


def test_expand_command_uses_the_environment() -> None:
    env = [("GREETING", "hello"), ("NAME", "world")]
    assert expand_command(["sh", "-c", "echo $(GREETING) $(NAME) $$(NAME) $(OTHER)"], env) == [
        "sh", "-c", "echo hello world $(NAME) $(OTHER)"]


# ---- env and envFrom


async def test_literal_values_expand_against_earlier_variables_only() -> None:
    pod, c = make_pod(env=[
        core_pb2.EnvVar(name="A", value="a"),
        core_pb2.EnvVar(name="B", value="$(A)-$(C)"),
        core_pb2.EnvVar(name="C", value="c"),
        core_pb2.EnvVar(name="EMPTY"),
    ])
    assert await resolve(FakeGetter(), pod, c) == [("A", "a"), ("B", "a-$(C)"), ("C", "c"), ("EMPTY", "")]


async def test_env_from_comes_first_with_prefix_and_env_overrides_it() -> None:
    getter = FakeGetter(config_map("cfg", {"B": "cm-b", "A": "cm-a", "1BAD": "x", "bad key": "y"}),
                        secret("sec", {"TOKEN": b"s3cret"}))
    pod, c = make_pod(
        env_from=[core_pb2.EnvFromSource(config_map_ref=core_pb2.ConfigMapEnvSource(name="cfg")),
                  core_pb2.EnvFromSource(prefix="S_", secret_ref=core_pb2.SecretEnvSource(name="sec"))],
        env=[core_pb2.EnvVar(name="A", value="env-$(A)"), core_pb2.EnvVar(name="URL", value="$(S_TOKEN)@$(B)")],
    )
    env = await resolve(getter, pod, c)
    # "1BAD" and "bad key" are invalid names and skipped; A is redefined and moves to its env place.
    assert env == [("B", "cm-b"), ("S_TOKEN", "s3cret"), ("A", "env-cm-a"), ("URL", "s3cret@cm-b")]


async def test_prefix_can_make_a_key_valid() -> None:
    getter = FakeGetter(config_map("cfg", {"1X": "v"}))
    pod, c = make_pod(env_from=[core_pb2.EnvFromSource(
        prefix="P_", config_map_ref=core_pb2.ConfigMapEnvSource(name="cfg"))])
    assert await resolve(getter, pod, c) == [("P_1X", "v")]


async def test_missing_env_from_objects_fail_unless_optional() -> None:
    pod, c = make_pod(env_from=[core_pb2.EnvFromSource(config_map_ref=core_pb2.ConfigMapEnvSource(name="nope"))])
    with pytest.raises(ContainerConfigError) as info:
        await resolve(FakeGetter(), pod, c)
    assert info.value.message == 'configmap "nope" not found'
    assert info.value.reason == "CreateContainerConfigError"

    pod, c = make_pod(env_from=[core_pb2.EnvFromSource(secret_ref=core_pb2.SecretEnvSource(name="gone"))])
    with pytest.raises(ContainerConfigError, match='^secret "gone" not found$'):
        await resolve(FakeGetter(), pod, c)

    pod, c = make_pod(env_from=[
        core_pb2.EnvFromSource(config_map_ref=core_pb2.ConfigMapEnvSource(name="nope", optional=True)),
        core_pb2.EnvFromSource(secret_ref=core_pb2.SecretEnvSource(name="gone", optional=True))],
        env=[core_pb2.EnvVar(name="X", value="1")])
    assert await resolve(FakeGetter(), pod, c) == [("X", "1")]


async def test_key_refs_and_their_errors() -> None:
    getter = FakeGetter(config_map("cfg", {"k": "v"}), secret("sec", {"pw": b"hunter2"}))

    def cm_ref(name: str, key: str, optional: bool = False) -> core_pb2.EnvVarSource:
        return core_pb2.EnvVarSource(config_map_key_ref=core_pb2.ConfigMapKeySelector(
            name=name, key=key, optional=optional))

    def secret_ref(name: str, key: str, optional: bool = False) -> core_pb2.EnvVarSource:
        return core_pb2.EnvVarSource(secret_key_ref=core_pb2.SecretKeySelector(name=name, key=key, optional=optional))

    pod, c = make_pod(env=[
        core_pb2.EnvVar(name="K", value_from=cm_ref("cfg", "k")),
        core_pb2.EnvVar(name="P", value_from=secret_ref("sec", "pw")),
        core_pb2.EnvVar(name="OPT_KEY", value_from=cm_ref("cfg", "missing", optional=True)),
        core_pb2.EnvVar(name="OPT_OBJ", value_from=secret_ref("nope", "x", optional=True)),
        core_pb2.EnvVar(name="BOTH", value="$(K):$(P)"),
    ])
    assert await resolve(getter, pod, c) == [("K", "v"), ("P", "hunter2"), ("BOTH", "v:hunter2")]
    assert getter.gets == 3  # cfg and sec fetched once each, "nope" once

    cases = [
        (cm_ref("cfg", "missing"), "couldn't find key missing in ConfigMap ns/cfg"),
        (secret_ref("sec", "missing"), "couldn't find key missing in Secret ns/sec"),
        (cm_ref("nope", "k"), 'configmap "nope" not found'),
        (secret_ref("nope", "k"), 'secret "nope" not found'),
    ]
    for source, message in cases:
        pod, c = make_pod(env=[core_pb2.EnvVar(name="X", value_from=source)])
        with pytest.raises(ContainerConfigError) as info:
            await resolve(getter, pod, c)
        assert info.value.message == message


# ---- fieldRef


def field_env(*paths: str) -> list[core_pb2.EnvVar]:
    return [core_pb2.EnvVar(name=f"V{i}", value_from=core_pb2.EnvVarSource(
        field_ref=core_pb2.ObjectFieldSelector(field_path=path))) for i, path in enumerate(paths)]


async def test_field_refs() -> None:
    pod, c = make_pod(env=field_env(
        "metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels['app']", "metadata.labels['none']",
        "metadata.annotations['note']", "spec.nodeName", "spec.serviceAccountName", "status.podIP",
        "status.podIPs", "status.hostIP", "status.hostIPs", "metadata.labels", "spec.host"))
    pod.status.pod_ips.add(ip="10.0.0.5")
    pod.status.pod_ips.add(ip="fd00::5")
    values = [value for _, value in await resolve(FakeGetter(), pod, c)]
    assert values == ["web-1", "ns", "uid-123", "web", "", 'say "hi"\n', "node-a", "robot", "10.0.0.5",
                      "10.0.0.5,fd00::5", "192.168.1.2", "192.168.1.2", 'app="web"\ntier="front"', "node-a"]


async def test_field_ref_prefers_the_pods_node_name() -> None:
    pod, c = make_pod(env=field_env("spec.nodeName"))
    pod.spec.node_name = "bound-node"
    assert await resolve(FakeGetter(), pod, c) == [("V0", "bound-node")]


@pytest.mark.parametrize("path, version, message", [
    ("spec.containers", "", "field label not supported: spec.containers"),
    ("metadata.name['x']", "", "field label does not support subscript: metadata.name['x']"),
    ("metadata.name", "v2", "unsupported pod version: v2"),
    ("status.phase", "v1", "unsupported fieldPath: status.phase"),
    ("metadata.labels['bad key!']", "", "invalid key subscript in metadata.labels['bad key!']: "),
])
async def test_field_ref_errors(path: str, version: str, message: str) -> None:
    pod, c = make_pod(env=[core_pb2.EnvVar(name="X", value_from=core_pb2.EnvVarSource(
        field_ref=core_pb2.ObjectFieldSelector(field_path=path, api_version=version)))])
    with pytest.raises(ContainerConfigError) as info:
        await resolve(FakeGetter(), pod, c)
    assert info.value.message.startswith(message)


def test_format_map_sorts_and_quotes_like_go() -> None:
    assert format_map({"b": "2", "a": 'x"y\\z\n\t', "c": "é\x01\u200b"}) == (
        'a="x\\"y\\\\z\\n\\t"\nb="2"\nc="é\\x01\\u200b"')
    assert format_map({}) == ""
    assert go_quote("\U0001f600") == '"\U0001f600"'


def test_annotation_subscript_is_validated_lowercased() -> None:
    pod, _ = make_pod()
    pod.metadata.annotations["Example.COM/Key"] = "v"
    assert field_value(pod, "metadata.annotations['Example.COM/Key']") == "v"
    with pytest.raises(ContainerConfigError, match="invalid key subscript"):
        field_value(pod, "metadata.labels['Example.COM/Key']")


# ---- resourceFieldRef


def resource_env(name: str, resource: str, divisor: str = "", container_name: str = "") -> core_pb2.EnvVar:
    selector = core_pb2.ResourceFieldSelector(resource=resource, divisor=divisor, container_name=container_name)
    return core_pb2.EnvVar(name=name, value_from=core_pb2.EnvVarSource(resource_field_ref=selector))


async def test_resource_field_refs_round_up_with_divisor() -> None:
    pod, c = make_pod(env=[
        resource_env("CPU", "limits.cpu"),
        resource_env("CPU_M", "limits.cpu", "1m"),
        resource_env("REQ_CPU", "requests.cpu", "100m"),
        resource_env("MEM", "limits.memory"),
        resource_env("MEM_MI", "limits.memory", "1Mi"),
        resource_env("REQ_MEM_GI", "requests.memory", "1Gi"),
        resource_env("SIDE", "limits.memory", "1Mi", container_name="side"),
    ])
    c.resources.limits.update({"cpu": "250m", "memory": "129M"})
    c.resources.requests.update({"cpu": "150m", "memory": "1Mi"})
    pod.spec.containers.add(name="side").resources.limits["memory"] = "64Mi"
    assert await resolve(FakeGetter(), pod, c) == [
        ("CPU", "1"), ("CPU_M", "250"), ("REQ_CPU", "2"), ("MEM", "129000000"), ("MEM_MI", "124"),
        ("REQ_MEM_GI", "1"), ("SIDE", "64")]


async def test_missing_limits_default_to_node_allocatable() -> None:
    pod, c = make_pod(env=[resource_env("CPU", "limits.cpu", "1m"), resource_env("MEM", "limits.memory", "1Gi"),
                           resource_env("REQ", "requests.cpu", "1m")])
    c.resources.limits["memory"] = "0"
    env = await resolve(FakeGetter(), pod, c, allocatable={"cpu": "4", "memory": "8Gi"})
    assert env == [("CPU", "4000"), ("MEM", "8"), ("REQ", "0")]
    assert await resolve(FakeGetter(), pod, c) == [("CPU", "0"), ("MEM", "0"), ("REQ", "0")]


async def test_resource_field_ref_errors() -> None:
    pod, c = make_pod(env=[resource_env("X", "limits.gpu")])
    with pytest.raises(ContainerConfigError, match="^unsupported container resource : limits.gpu$"):
        await resolve(FakeGetter(), pod, c)
    pod, c = make_pod(env=[resource_env("X", "limits.cpu", container_name="ghost")])
    with pytest.raises(ContainerConfigError, match="^container ghost not found$"):
        await resolve(FakeGetter(), pod, c)


async def test_bad_quantities_are_config_errors() -> None:
    pod, c = make_pod(env=[resource_env("X", "limits.memory", divisor="lots")])
    with pytest.raises(ContainerConfigError, match="^invalid quantity for limits.memory"):
        await resolve(FakeGetter(), pod, c)


async def test_api_failures_become_config_errors() -> None:
    class Down(FakeGetter):
        async def get(self, cls: type, name: str, *, namespace: str | None = None) -> object:
            raise errors.ServiceUnavailable("unable to connect to the server at 127.0.0.1:1")

    pod, c = make_pod(env_from=[core_pb2.EnvFromSource(
        config_map_ref=core_pb2.ConfigMapEnvSource(name="cfg", optional=True))])
    with pytest.raises(ContainerConfigError, match="^unable to connect to the server"):
        await resolve(Down(), pod, c)
