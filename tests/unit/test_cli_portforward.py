"""``skiffctl port-forward`` without an apiserver: port specs and their messages (client-go's
``parsePorts`` and kubectl's ``splitPort`` / ``convertPodNamedPortToNumber``), Service ports mapped
to the pod's ports (kubectl's ``translateServicePortToTargetPort``), listen addresses and their
failure modes, the pod chosen for a workload (on a scripted client), and the argument checks."""

from __future__ import annotations

import argparse
import asyncio
import io
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from skiff.api.v1 import core_pb2
from skiff.cli.commands import portforward as pf
from skiff.cli.commands.portforward import ForwardedPort
from skiff.cli.context import Context, UsageError
from skiff.client.client import ObjectList, WatchEvent

# ---- port specs ----


@pytest.mark.parametrize(("spec", "port"), [
    ("8080", ForwardedPort(8080, 8080)),
    ("8080:80", ForwardedPort(8080, 80)),
    (":80", ForwardedPort(0, 80)),
    ("0:80", ForwardedPort(0, 80)),
    ("65535:1", ForwardedPort(65535, 1)),
    ("0080:080", ForwardedPort(80, 80)),
])
def test_port_specs(spec: str, port: ForwardedPort) -> None:
    assert pf.parse_port(spec) == port


@pytest.mark.parametrize(("spec", "message"), [
    ("abc", """error parsing local port 'abc': strconv.ParseUint: parsing "abc": invalid syntax"""),
    ("x:80", """error parsing local port 'x': strconv.ParseUint: parsing "x": invalid syntax"""),
    ("8080:", """error parsing remote port '': strconv.ParseUint: parsing "": invalid syntax"""),
    ("8080:http", """error parsing remote port 'http': strconv.ParseUint: parsing "http": invalid syntax"""),
    ("70000:80", """error parsing local port '70000': strconv.ParseUint: parsing "70000": value out of range"""),
    ("80:-1", """error parsing remote port '-1': strconv.ParseUint: parsing "-1": invalid syntax"""),
    ("0", "remote port must be > 0"),
    (":0", "remote port must be > 0"),
    ("1:2:3", "invalid port format '1:2:3'"),
])
def test_bad_port_specs(spec: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        pf.parse_port(spec)
    assert str(exc.value) == message


def test_parse_ports_is_a_usage_error_naming_the_first_bad_spec() -> None:
    assert pf.parse_ports(["80", ":443"]) == [ForwardedPort(80, 80), ForwardedPort(0, 443)]
    with pytest.raises(UsageError) as exc:
        pf.parse_ports(["80", "x"])
    assert str(exc.value) == """error: error parsing local port 'x': strconv.ParseUint: parsing "x": invalid syntax"""
    assert str(ForwardedPort(8080, 80)) == "{8080 80}"  # as client-go prints it in "unable to listen" errors


# ---- named ports, Services ----


def pod(name: str = "web", *ports: tuple[str, int, str], phase: str = "Running", labels: dict[str, str] | None = None,
        created: str = "2026-01-01T00:00:00Z", node: str = "n1", ready: bool = True) -> core_pb2.Pod:
    """A pod whose one container declares ``ports`` as (name, containerPort, protocol)."""
    p = core_pb2.Pod(api_version="v1", kind="Pod")
    p.metadata.name, p.metadata.namespace, p.metadata.uid = name, "ns", f"uid-{name}"
    p.metadata.creation_timestamp = created
    p.metadata.labels.update(labels or {})
    p.spec.node_name = node
    container = p.spec.containers.add(name="app", image="busybox")
    for port_name, number, protocol in ports:
        added = container.ports.add(container_port=number)
        if port_name:
            added.name = port_name
        if protocol:
            added.protocol = protocol
    p.status.phase = phase
    if ready:
        p.status.conditions.add(type="Ready", status="True")
    return p


def service(*ports: tuple[str, int, int | str | None], cluster_ip: str = "10.96.0.10",
            protocol: str = "TCP") -> core_pb2.Service:
    """A Service named web selecting app=web, with ``ports`` as (name, port, targetPort)."""
    svc = core_pb2.Service(api_version="v1", kind="Service")
    svc.metadata.name, svc.metadata.namespace = "web", "ns"
    svc.spec.selector["app"] = "web"
    svc.spec.cluster_ip = cluster_ip
    for name, number, target in ports:
        added = svc.spec.ports.add(port=number, protocol=protocol)
        if name:
            added.name = name
        if isinstance(target, int):
            added.target_port.int_val = target
        elif isinstance(target, str):
            added.target_port.str_val = target
    return svc


WEB = pod("web", ("http", 8080, "TCP"), ("metrics", 9090, ""))


@pytest.mark.parametrize(("specs", "expected"), [
    (["8080"], ["8080"]),
    (["5000:8080"], ["5000:8080"]),
    (["http"], ["8080"]),  # a lone name: the local port is the name's number too
    (["5000:http"], ["5000:8080"]),
    ([":metrics"], [":9090"]),
])
def test_pod_named_ports(specs: list[str], expected: list[str]) -> None:
    assert pf.pod_ports(specs, WEB, WEB) == expected


@pytest.mark.parametrize(("specs", "message"), [
    (["8080:"], "error: remote port cannot be empty"),
    (["5000:nope"], "error: Pod 'web' does not have a named port 'nope'"),
    (["1:2:3"], "error: invalid port format '1:2:3'"),
])
def test_pod_port_errors(specs: list[str], message: str) -> None:
    with pytest.raises(UsageError) as exc:
        pf.pod_ports(specs, WEB, WEB)
    assert str(exc.value) == message


SVC = service(("http", 80, "http"), ("admin", 81, 9090), ("plain", 82, None), ("same", 8080, 8080))


@pytest.mark.parametrize(("specs", "expected"), [
    (["80"], ["80:8080"]),  # named targetPort: the pod's containerPort named http
    (["81"], ["81:9090"]),  # numeric targetPort
    (["82"], ["82"]),  # no targetPort: the service port itself
    (["8080"], ["8080"]),  # local and pod port the same: kubectl writes one number
    (["5000:80"], ["5000:8080"]),
    (["http"], ["80:8080"]),  # a service port's name, alone: the local port is the service port
    (["5000:admin"], ["5000:9090"]),
    ([":80", "81"], [":8080", "81:9090"]),
])
def test_service_ports_map_to_the_pods_ports(specs: list[str], expected: list[str]) -> None:
    assert pf.pod_ports(specs, SVC, WEB) == expected


def test_headless_service_ports_are_the_pods_ports() -> None:
    headless = service(("http", 80, 8080), cluster_ip="None")
    assert pf.pod_ports(["80", "5000:http"], headless, WEB) == ["80", "5000:80"]


@pytest.mark.parametrize(("specs", "message"), [
    (["90"], "error: Service web does not have a service port 90"),
    (["nope"], "error: Service 'web' does not have a named port 'nope'"),
])
def test_service_port_errors(specs: list[str], message: str) -> None:
    with pytest.raises(UsageError) as exc:
        pf.pod_ports(specs, SVC, WEB)
    assert str(exc.value) == message


def test_named_target_port_missing_in_the_pod() -> None:
    svc = service(("http", 80, "web-http"))
    with pytest.raises(UsageError) as exc:
        pf.pod_ports(["80"], svc, WEB)
    assert str(exc.value) == "error: Pod 'web' does not have a named port 'web-http'"


def test_udp_only_ports_are_refused() -> None:
    dns = pod("dns", ("dns", 53, "UDP"), ("dns-tcp", 5353, "TCP"))
    with pytest.raises(UsageError, match="^error: UDP protocol is not supported for dns$"):
        pf.pod_ports(["dns"], dns, dns)
    assert pf.pod_ports(["dns-tcp"], dns, dns) == ["5353"]
    with pytest.raises(UsageError, match="^error: UDP protocol is not supported for 53$"):
        pf.pod_ports(["53"], service(("dns", 53, 53), protocol="UDP"), dns)


# ---- listen addresses ----


def test_addresses() -> None:
    parsed = pf.parse_addresses(["localhost"])
    assert [(a.address, a.protocol, a.required) for a in parsed] == [("127.0.0.1", "tcp4", False),
                                                                     ("::1", "tcp6", False)]
    assert [a.join(8080) for a in parsed] == ["127.0.0.1:8080", "[::1]:8080"]
    # comma-separated and repeated; an address named again after localhost must bind, as in client-go
    parsed = pf.parse_addresses(["localhost,10.0.0.2", "127.0.0.1", "::"])
    assert [(a.address, a.required) for a in parsed] == [("10.0.0.2", True), ("127.0.0.1", True), ("::", True),
                                                         ("::1", False)]
    with pytest.raises(UsageError, match="^error: example.com is not a valid IP$"):
        pf.parse_addresses(["example.com"])


def context(client: Any = None, **flags: Any) -> Context:
    defaults: dict[str, Any] = {"words": [], "address": None, "pod_running_timeout": "1m0s"}
    return Context(args=argparse.Namespace(**{**defaults, **flags}), server="unused", namespace="ns",
                   namespace_explicit=False, out=io.StringIO(), err=io.StringIO(), _client=client)


UNBINDABLE = pf.ListenAddress("192.0.2.1", socket.AF_INET, required=False)
"""TEST-NET-1: no interface has it, so binding fails as ::1 does where IPv6 is missing."""


async def test_localhost_needs_one_of_its_addresses() -> None:
    ctx = context()
    loopback = pf.ListenAddress("127.0.0.1", socket.AF_INET, required=False)
    forwarder = pf.Forwarder(ctx, pod(), [loopback, UNBINDABLE], [ForwardedPort(0, 80)])
    try:
        await forwarder.listen()
        port = forwarder.ports[0].local
        assert port != 0
        assert ctx.out.getvalue() == f"Forwarding from 127.0.0.1:{port} -> 80\n"  # type: ignore[attr-defined]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        await forwarder.close()


async def test_a_named_address_must_bind() -> None:
    ctx = context()
    loopback = pf.ListenAddress("127.0.0.1", socket.AF_INET, required=False)
    named = pf.ListenAddress("192.0.2.1", socket.AF_INET, required=True)
    forwarder = pf.Forwarder(ctx, pod(), [loopback, named], [ForwardedPort(0, 80)])
    try:
        with pytest.raises(UsageError, match=r"^error: unable to listen on any of the requested ports: \[\{0 80\}\]$"):
            await forwarder.listen()
    finally:
        await forwarder.close()
    err = ctx.err.getvalue()  # type: ignore[attr-defined]
    assert err.startswith("Unable to listen on port 0: Listeners failed to create with the following errors: "
                          "[unable to create listener: Error listen tcp4 192.0.2.1:")
    assert err.rstrip().endswith(": bind: cannot assign requested address]")


async def test_a_port_in_use_fails_that_port_only() -> None:
    ctx = context()
    loopback = pf.ListenAddress("127.0.0.1", socket.AF_INET, required=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        used = taken.getsockname()[1]
        forwarder = pf.Forwarder(ctx, pod(), [loopback], [ForwardedPort(used, 80), ForwardedPort(0, 81)])
        try:
            await forwarder.listen()
        finally:
            await forwarder.close()
    assert ctx.err.getvalue() == (  # type: ignore[attr-defined]
        f"Unable to listen on port {used}: Listeners failed to create with the following errors: [unable to create "
        f"listener: Error listen tcp4 127.0.0.1:{used}: bind: address already in use]\n")
    assert ctx.out.getvalue() == f"Forwarding from 127.0.0.1:{forwarder.ports[1].local} -> 81\n"  # type: ignore


# ---- the pod of a workload, on a scripted client ----


class ScriptedClient:
    """get returns ``obj``; list returns ``listed``; the watch plays ``events`` and then blocks."""

    def __init__(self, obj: Any, listed: list[core_pb2.Pod], events: list[WatchEvent[core_pb2.Pod]]) -> None:
        self.obj, self.listed, self.events = obj, listed, events
        self.selectors: list[str] = []

    async def get(self, cls: Any, name: str, *, namespace: str | None = None) -> Any:
        return self.obj

    async def list(self, cls: Any, *, namespace: str = "", label_selector: str = "") -> ObjectList[core_pb2.Pod]:
        self.selectors.append(label_selector)
        return ObjectList(list(self.listed), "7")

    async def watch(self, cls: Any, **kwargs: Any) -> AsyncIterator[WatchEvent[core_pb2.Pod]]:
        assert kwargs["resource_version"] == "7"
        for event in self.events:
            yield event
        await asyncio.Event().wait()


def deployment() -> Any:
    from skiff.api.v1 import apps_pb2

    d = apps_pb2.Deployment(api_version="apps/v1", kind="Deployment")
    d.metadata.name, d.metadata.namespace = "web", "ns"
    d.spec.selector.match_labels["app"] = "web"
    return d


async def test_a_workload_takes_its_best_running_pod() -> None:
    old = pod("old", labels={"app": "web"}, created="2026-01-01T00:00:00Z")
    new = pod("new", labels={"app": "web"}, created="2026-01-02T00:00:00Z")
    pending = pod("pending", labels={"app": "web"}, phase="Pending", ready=False)
    client = ScriptedClient(deployment(), [new, pending, old], [])
    obj, chosen = await pf.forwardable_pod(context(client), "deploy/web", 60)
    assert (obj.metadata.name, chosen.metadata.name) == ("web", "old")
    assert client.selectors == ["app=web"]


async def test_a_workload_waits_for_a_pod_to_run() -> None:
    pending = pod("web-1", labels={"app": "web"}, phase="Pending", ready=False)
    running = pod("web-1", labels={"app": "web"})
    client = ScriptedClient(deployment(), [pending], [WatchEvent("MODIFIED", pending), WatchEvent("MODIFIED", running)])
    _, chosen = await pf.forwardable_pod(context(client), "deployment/web", 60)
    assert chosen.status.phase == "Running"


async def test_a_workload_whose_pods_never_run() -> None:
    pending = pod("web-1", labels={"app": "web"}, phase="Pending", ready=False)
    _, chosen = await pf.forwardable_pod(context(ScriptedClient(deployment(), [pending], [])), "deploy/web", 0.05)
    assert chosen.status.phase == "Pending"  # then: "unable to forward port because pod is not running"
    with pytest.raises(UsageError, match="^error: timed out waiting for the condition$"):
        await pf.forwardable_pod(context(ScriptedClient(deployment(), [], [])), "deploy/web", 0.05)


async def test_what_cannot_be_forwarded_to() -> None:
    no_selector = service(("http", 80, 80))
    no_selector.spec.ClearField("selector")
    with pytest.raises(UsageError) as exc:
        await pf.forwardable_pod(context(ScriptedClient(no_selector, [], [])), "svc/web", 1)
    assert str(exc.value) == ("error: cannot attach to *v1.Service: invalid service 'web': "
                              "Service is defined without a selector")
    with pytest.raises(UsageError) as exc:
        await pf.forwardable_pod(context(ScriptedClient(core_pb2.ConfigMap(), [], [])), "cm/x", 1)
    assert str(exc.value) == "error: cannot attach to *v1.ConfigMap: selector for *v1.ConfigMap not implemented"


# ---- arguments ----


@pytest.mark.parametrize(("flags", "message"), [
    ({"words": ["web"]}, "error: TYPE/NAME and list of ports are required for port-forward\n"
                         "See 'skiffctl port-forward -h' for help and examples"),
    ({"words": ["web", "80"], "pod_running_timeout": "0s"},
     "error: --pod-running-timeout must be higher than zero\nSee 'skiffctl port-forward -h' for help and examples"),
    ({"words": ["web", "80"], "pod_running_timeout": "1"},
     'error: invalid argument "1" for "--pod-running-timeout" flag: time: missing unit in duration "1"'),
])
async def test_argument_errors(flags: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as exc:
        await pf.run_port_forward(context(**flags))
    assert str(exc.value) == message


async def test_a_pod_that_is_not_running() -> None:
    pending = pod("web", phase="Pending", ready=False)
    with pytest.raises(UsageError) as exc:
        await pf.run_port_forward(context(ScriptedClient(pending, [], []), words=["web", "8080:80"]))
    assert str(exc.value) == "error: unable to forward port because pod is not running. Current status=Pending"
