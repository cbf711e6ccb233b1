"""A pod's DNS settings (kubelet/dns.py) against Kubernetes 1.32's kubelet (pkg/kubelet/network/dns):
every dnsPolicy, the hostNetwork fallbacks, MissingClusterDNS, dnsConfig merging, the limits and
their DNSConfigForming messages, the node's resolver file as parseResolvConf reads it, the
resolv.conf text, the kubelet's flags — and the pod sync handing the settings to the runtime with
the Warnings recorded on the pod and the node."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kubelet.app import _settings, parse_args
from kubelet.dns import (
    DnsConfig,
    DnsError,
    DnsEvent,
    DnsSettings,
    check_resolv_conf_limits,
    parse_cluster_dns,
    parse_resolv_conf,
    pod_dns,
    read_resolv_conf,
)
from kubelet.kubelet import Kubelet, KubeletSettings
from kubelet.node import NodeSettings
from kubelet.runtime.fake import FakeRuntime
from kubelet.runtime.interface import Sandbox, SandboxConfig
from skiff.api.manifest import from_manifest
from skiff.api.v1 import core_pb2
from skiff.client.client import Client

HOST = DnsConfig(servers=("192.168.1.1", "192.168.1.2"), searches=("corp.example", "example"),
                 options=("timeout:1", "rotate"))
CLUSTER = DnsSettings(cluster_dns=("10.96.0.10",), cluster_domain="cluster.local")
MISSING = ('kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. '
           'Falling back to "Default" policy.')


def pod(policy: str | None = "ClusterFirst", *, host_network: bool = False, dns_config: dict[str, Any] | None = None,
        namespace: str = "team-a") -> core_pb2.Pod:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "busybox"}], "hostNetwork": host_network}
    if policy is not None:
        spec["dnsPolicy"] = policy
    if dns_config is not None:
        spec["dnsConfig"] = dns_config
    made = from_manifest({"apiVersion": "v1", "kind": "Pod",
                          "metadata": {"name": "web", "namespace": namespace, "uid": "uid-1"}, "spec": spec})
    assert isinstance(made, core_pb2.Pod)
    return made


# ---- the policies ----


def test_cluster_first_uses_the_cluster_dns_the_cluster_searches_then_the_hosts_and_ndots_5() -> None:
    config, events = pod_dns(pod("ClusterFirst"), CLUSTER, HOST)
    assert config == DnsConfig(servers=("10.96.0.10",),
                               searches=("team-a.svc.cluster.local", "svc.cluster.local", "cluster.local",
                                         "corp.example", "example"),
                               options=("ndots:5",))
    assert events == []


def test_cluster_first_drops_host_search_domains_the_cluster_ones_already_have() -> None:
    host = DnsConfig(servers=("1.1.1.1",), searches=("cluster.local", "corp.example", "svc.cluster.local"))
    config, _ = pod_dns(pod("ClusterFirst", namespace="default"), CLUSTER, host)
    assert config.searches == ("default.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example")


def test_cluster_first_without_a_cluster_domain_searches_the_hosts_domains_only() -> None:
    config, _ = pod_dns(pod("ClusterFirst"), DnsSettings(cluster_dns=("10.96.0.10", "10.96.0.11")), HOST)
    assert config == DnsConfig(servers=("10.96.0.10", "10.96.0.11"), searches=HOST.searches, options=("ndots:5",))


def test_an_unset_policy_is_the_apiservers_default_cluster_first() -> None:
    assert pod_dns(pod(None), CLUSTER, HOST) == pod_dns(pod("ClusterFirst"), CLUSTER, HOST)
    assert pod_dns(pod(None), CLUSTER, HOST)[0].servers == ("10.96.0.10",)


def test_cluster_first_with_host_network_falls_back_to_the_nodes_settings() -> None:
    config, events = pod_dns(pod("ClusterFirst", host_network=True), CLUSTER, HOST)
    assert config == HOST and events == []


def test_cluster_first_with_host_net_uses_the_cluster_dns_even_on_the_host_network() -> None:
    config, _ = pod_dns(pod("ClusterFirstWithHostNet", host_network=True), CLUSTER, HOST)
    assert config.servers == ("10.96.0.10",) and config.searches[0] == "team-a.svc.cluster.local"
    assert config.options == ("ndots:5",)
    assert pod_dns(pod("ClusterFirstWithHostNet"), CLUSTER, HOST)[0] == config  # and off it


def test_default_is_the_nodes_resolver_file_whatever_the_cluster_dns() -> None:
    assert pod_dns(pod("Default"), CLUSTER, HOST) == (HOST, [])
    assert pod_dns(pod("Default", host_network=True), CLUSTER, HOST) == (HOST, [])


def test_none_is_only_the_pods_dns_config() -> None:
    dns_config = {"nameservers": ["10.96.0.10"], "searches": ["ns1.svc.cluster-domain.example", "my.dns.search.suffix"],
                  "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}
    config, events = pod_dns(pod("None", dns_config=dns_config), CLUSTER, HOST)
    assert config == DnsConfig(servers=("10.96.0.10",),
                               searches=("ns1.svc.cluster-domain.example", "my.dns.search.suffix"),
                               options=("ndots:2", "edns0"))
    assert events == []
    assert pod_dns(pod("None"), CLUSTER, HOST) == (DnsConfig(), [])


def test_an_invalid_policy_is_logged_and_treated_as_cluster_first_even_on_the_host_network(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="skiff.kubelet"):
        config, _ = pod_dns(pod("Sometimes", host_network=True), CLUSTER, HOST)
    assert config.servers == ("10.96.0.10",)
    assert "invalid DNSPolicy=Sometimes" in caplog.text


def test_cluster_first_without_cluster_dns_falls_back_to_default_with_missing_cluster_dns_on_node_and_pod() -> None:
    config, events = pod_dns(pod("ClusterFirst"), DnsSettings(cluster_domain="cluster.local"), HOST)
    assert config == HOST
    assert events == [DnsEvent("MissingClusterDNS", MISSING, on_node=True),
                      DnsEvent("MissingClusterDNS", f'pod: "web_team-a(uid-1)". {MISSING}')]
    assert all(e.type == "Warning" for e in events)
    # ClusterFirstWithHostNet asks for the cluster DNS too; Default and None never do
    assert len(pod_dns(pod("ClusterFirstWithHostNet", host_network=True), DnsSettings(), HOST)[1]) == 2
    assert pod_dns(pod("Default"), DnsSettings(), HOST)[1] == [] and pod_dns(pod("None"), DnsSettings(), HOST)[1] == []
    assert pod_dns(pod("ClusterFirst", host_network=True), DnsSettings(), HOST)[1] == []  # it is Default there


def test_without_a_resolver_file_default_pods_get_loopback_servers_per_node_ip_and_search_dot() -> None:
    no_file = DnsSettings(resolv_conf="", node_ips=("10.0.0.1",))
    assert pod_dns(pod("Default"), no_file, DnsConfig())[0] == DnsConfig(servers=("127.0.0.1",), searches=(".",))
    dual = DnsSettings(resolv_conf="", node_ips=("10.0.0.1", "fd00::1"))
    assert pod_dns(pod("Default"), dual, DnsConfig())[0].servers == ("127.0.0.1", "::1")
    assert pod_dns(pod("Default"), DnsSettings(resolv_conf=""), DnsConfig())[0].servers == ("127.0.0.1",)
    # the MissingClusterDNS fallback takes the same path
    config, events = pod_dns(pod("ClusterFirst"), no_file, DnsConfig())
    assert config == DnsConfig(servers=("127.0.0.1",), searches=(".",)) and len(events) == 2
    # the cluster DNS does not need the file
    assert pod_dns(pod("ClusterFirst"), DnsSettings(cluster_dns=("10.96.0.10",), resolv_conf=""),
                   DnsConfig())[0] == DnsConfig(servers=("10.96.0.10",), options=("ndots:5",))


# ---- dnsConfig merged in ----


def test_dns_config_appends_servers_and_searches_without_duplicates_and_overrides_options_by_name() -> None:
    dns_config = {"nameservers": ["10.96.0.10", "8.8.8.8"], "searches": ["svc.cluster.local", "extra.example"],
                  "options": [{"name": "ndots", "value": "2"}, {"name": "single-request-reopen"},
                              {"name": "timeout", "value": "3"}]}
    config, _ = pod_dns(pod("ClusterFirst", dns_config=dns_config), CLUSTER, HOST)
    assert config.servers == ("10.96.0.10", "8.8.8.8")
    assert config.searches == ("team-a.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example",
                               "example", "extra.example")
    assert config.options == ("ndots:2", "single-request-reopen", "timeout:3")


def test_dns_config_options_override_the_nodes_and_an_empty_value_keeps_the_name_only() -> None:
    dns_config = {"options": [{"name": "timeout", "value": "5"}, {"name": "rotate", "value": ""},
                              {"name": "attempts", "value": "2"}]}
    config, _ = pod_dns(pod("Default", dns_config=dns_config), CLUSTER, HOST)
    assert config == DnsConfig(servers=HOST.servers, searches=HOST.searches,
                               options=("timeout:5", "rotate", "attempts:2"))


def test_an_empty_dns_config_still_merges_duplicates_away() -> None:
    host = DnsConfig(servers=("1.1.1.1", "1.1.1.1"), searches=("a.example", "a.example"),
                     options=("ndots:1", "ndots:3"))
    assert pod_dns(pod("Default", dns_config={}), CLUSTER, host)[0] == DnsConfig(
        servers=("1.1.1.1",), searches=("a.example",), options=("ndots:3",))
    assert pod_dns(pod("Default"), CLUSTER, host)[0] == host  # without dnsConfig nothing is merged


# ---- limits ----


def test_more_than_three_nameservers_keep_the_first_three_with_a_dns_config_forming_warning() -> None:
    config, events = pod_dns(pod("ClusterFirst", dns_config={"nameservers": ["10.0.0.2", "10.0.0.3", "10.0.0.4"]}),
                             CLUSTER, HOST)
    assert config.servers == ("10.96.0.10", "10.0.0.2", "10.0.0.3")
    assert events == [DnsEvent("DNSConfigForming", "Nameserver limits were exceeded, some nameservers have been "
                                                   "omitted, the applied nameserver line is: 10.96.0.10 10.0.0.2 "
                                                   "10.0.0.3")]
    assert pod_dns(pod("None", dns_config={"nameservers": ["1.1.1.1", "1.1.1.2", "1.1.1.3"]}), CLUSTER, HOST)[1] == []


def search_warning(applied: list[str]) -> DnsEvent:
    return DnsEvent("DNSConfigForming", "Search Line limits were exceeded, some search paths have been omitted, "
                                        f"the applied search line is: {' '.join(applied)}")


def test_more_than_32_search_domains_keep_the_first_32() -> None:
    domains = [f"d{i}.example" for i in range(33)]
    config, events = pod_dns(pod("None", dns_config={"nameservers": ["1.1.1.1"], "searches": domains}), CLUSTER, HOST)
    assert list(config.searches) == domains[:32] and events == [search_warning(domains[:32])]
    config, events = pod_dns(pod("None", dns_config={"nameservers": ["1.1.1.1"], "searches": domains[:32]}),
                             CLUSTER, HOST)
    assert list(config.searches) == domains[:32] and events == []


def test_the_cluster_domains_count_toward_the_32() -> None:
    host = DnsConfig(servers=("1.1.1.1",), searches=tuple(f"h{i}.example" for i in range(30)))
    config, events = pod_dns(pod("ClusterFirst"), CLUSTER, host)
    assert len(config.searches) == 32 and config.searches[-1] == "h28.example"
    assert events == [search_warning(list(config.searches))]


def test_a_search_domain_longer_than_253_characters_is_dropped() -> None:
    long = ("a" * 63 + ".") * 3 + "b" * 62  # 254 characters
    ok = ("a" * 63 + ".") * 3 + "b" * 61  # 253
    config, events = pod_dns(pod("None", dns_config={"nameservers": ["1.1.1.1"], "searches": ["x.example", long, ok]}),
                             CLUSTER, HOST)
    assert config.searches == ("x.example", ok) and events == [search_warning(["x.example", ok])]


def test_a_search_line_over_2048_characters_is_cut_from_the_end() -> None:
    domains = [f"{i:02d}" + "x" * 98 for i in range(21)]  # 100 characters each: 21 * 101 - 1 = 2120
    config, events = pod_dns(pod("None", dns_config={"nameservers": ["1.1.1.1"], "searches": domains}), CLUSTER, HOST)
    assert list(config.searches) == domains[:20]  # 20 * 101 - 1 = 2019 characters
    assert len(" ".join(config.searches)) <= 2048 and events == [search_warning(domains[:20])]
    exact = [*domains[:20], "y" * 28]  # 2019 + 1 + 28 = 2048: fits
    assert pod_dns(pod("None", dns_config={"nameservers": ["1.1.1.1"], "searches": exact}), CLUSTER, HOST)[1] == []


def test_nameserver_and_search_warnings_come_in_that_order() -> None:
    dns_config = {"nameservers": ["1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4"],
                  "searches": [f"d{i}.example" for i in range(40)]}
    _, events = pod_dns(pod("None", dns_config=dns_config), CLUSTER, HOST)
    assert [e.message.split(" ")[0] for e in events] == ["Nameserver", "Search"]


# ---- resolv.conf text ----


def test_render_writes_nameserver_lines_then_search_then_options() -> None:
    config = DnsConfig(servers=("10.96.0.10", "10.96.0.11"), searches=("default.svc.cluster.local", "cluster.local"),
                       options=("ndots:5", "edns0"))
    assert config.render() == ("nameserver 10.96.0.10\nnameserver 10.96.0.11\n"
                               "search default.svc.cluster.local cluster.local\noptions ndots:5 edns0\n")
    assert DnsConfig(servers=("1.1.1.1",)).render() == "nameserver 1.1.1.1\n"
    assert DnsConfig(searches=("a.example",)).render() == "search a.example\n"
    assert DnsConfig().render() == ""


def test_a_rendered_config_parses_back_to_itself() -> None:
    config = DnsConfig(servers=("10.96.0.10",), searches=("a.example", "b.example"), options=("ndots:5", "rotate"))
    assert parse_resolv_conf(config.render()) == config


# ---- the node's resolver file ----


def test_parse_resolv_conf_as_the_kubelet_does() -> None:
    text = ("# Generated by NetworkManager\n"
            "   # an indented comment\n"
            "domain corp.example\n"
            "search first.example other.example\n"
            "nameserver 192.168.1.1\n"
            "nameserver 192.168.1.2 # trailing words are ignored\r\n"
            "\n"
            "search second.example. . third.example\n"  # the last search line wins; trailing dots trimmed
            "options timeout:1 attempts:2\n"
            "options rotate timeout:3\n"  # options lines merge; a later value wins
            "nameserver\t192.168.1.3\n"
            "sortlist 130.155.160.0/255.255.240.0\n")
    assert parse_resolv_conf(text) == DnsConfig(servers=("192.168.1.1", "192.168.1.2", "192.168.1.3"),
                                                searches=("second.example", "third.example"),
                                                options=("timeout:3", "attempts:2", "rotate"))
    assert parse_resolv_conf("") == DnsConfig()
    assert parse_resolv_conf("search .\nnameserver 1.1.1.1\n") == DnsConfig(servers=("1.1.1.1",))


def test_a_nameserver_line_without_an_address_is_kubernetes_error() -> None:
    with pytest.raises(DnsError) as err:
        parse_resolv_conf("nameserver 1.1.1.1\nnameserver\nnameserver   \n")
    assert str(err.value) == "nameserver list is empty "


def test_read_resolv_conf_errors_are_worded_as_the_kubelets(tmp_path: Path) -> None:
    assert read_resolv_conf("") == DnsConfig()
    with pytest.raises(DnsError) as err:
        read_resolv_conf(str(tmp_path / "missing.conf"))
    assert str(err.value) == f"open {tmp_path}/missing.conf: no such file or directory"
    with pytest.raises(DnsError) as err:
        read_resolv_conf(str(tmp_path))
    assert str(err.value) == f"read {tmp_path}: is a directory"
    broken = tmp_path / "broken.conf"
    broken.write_text("nameserver\n")
    with pytest.raises(DnsError) as err:
        read_resolv_conf(str(broken))
    assert str(err.value) == "Encountered error while parsing resolv conf file. Error: nameserver list is empty "
    good = tmp_path / "resolv.conf"
    good.write_text("nameserver 10.0.0.53\nsearch lab.example\n")
    assert read_resolv_conf(str(good)) == DnsConfig(servers=("10.0.0.53",), searches=("lab.example",))


def test_the_start_up_check_of_the_resolver_file(tmp_path: Path) -> None:
    path = tmp_path / "resolv.conf"
    path.write_text("nameserver 1.1.1.1\nsearch " + " ".join(f"d{i}.example" for i in range(30)) + "\n")
    assert check_resolv_conf_limits(str(path), "") is None
    assert check_resolv_conf_limits(str(path), "cluster.local") == (
        f"Resolv.conf file '{path}' contains search line consisting of more than 29 domains!")
    path.write_text("search ok.example " + "a" * 254 + "\n")
    assert check_resolv_conf_limits(str(path), "") == (
        f'Resolv.conf file "{path}" contains a search path which length is more than allowed 253 chars!')
    path.write_text("search " + " ".join("d" * 200 for _ in range(11)) + "\n")  # 11 * 201 - 1 = 2210
    assert check_resolv_conf_limits(str(path), "") == (
        f"Resolv.conf file '{path}' contains search line which length is more than allowed 2048 chars!")
    assert check_resolv_conf_limits(str(tmp_path / "gone"), "") == f"open {tmp_path}/gone: no such file or directory"


# ---- the kubelet's flags ----


def test_cluster_dns_entries_are_ips_as_go_writes_them_and_invalid_ones_are_left_out(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="skiff.kubelet"):
        assert parse_cluster_dns(["10.96.0.10", "010.096.000.010", "not-an-ip", "FD00:0::A", "::ffff:10.0.0.1"]) == (
            "10.96.0.10", "10.96.0.10", "fd00::a", "10.0.0.1")
    assert "Invalid clusterDNS IP 'not-an-ip'" in caplog.text


def test_the_kubelet_flags() -> None:
    settings = _settings(parse_args(["--cluster-dns", "10.96.0.10,10.96.0.11", "--cluster-dns", "fd00::10",
                                     "--cluster-domain", "cluster.local", "--resolv-conf", "/run/resolv.conf",
                                     "--node-ip", "10.0.0.7"]), 0, 10250)
    assert settings.dns() == DnsSettings(cluster_dns=("10.96.0.10", "10.96.0.11", "fd00::10"),
                                         cluster_domain="cluster.local", resolv_conf="/run/resolv.conf",
                                         node_ips=("10.0.0.7",))
    defaults = _settings(parse_args([]), 0, 10250).dns()
    assert (defaults.cluster_dns, defaults.cluster_domain, defaults.resolv_conf) == ((), "", "/etc/resolv.conf")
    assert _settings(parse_args(["--cluster-dns", "", "--resolv-conf", ""]), 0, 1).dns().cluster_dns == ()
    assert _settings(parse_args(["--resolv-conf", ""]), 0, 1).dns().resolv_conf == ""


# ---- the pod sync hands them to the runtime ----


class RecordingRuntime(FakeRuntime):
    def __init__(self) -> None:
        super().__init__(node_name="n1")
        self.configs: list[SandboxConfig] = []

    async def run_sandbox(self, config: SandboxConfig) -> Sandbox:
        self.configs.append(config)
        return await super().run_sandbox(config)


def queued(kubelet: Kubelet) -> list[tuple[str, str, str, str, str]]:
    """(kind, name, type, reason, message) of the events the kubelet has queued."""
    items = list(kubelet.recorder._queue._queue)  # type: ignore[attr-defined]
    return [(p.involved.kind, p.involved.name, p.type, p.reason, p.message) for p in items]


def kubelet_for(tmp_path: Path, client: Client, **dns: Any) -> tuple[Kubelet, RecordingRuntime]:
    runtime = RecordingRuntime()
    settings = KubeletSettings(node=NodeSettings(name="n1", ip="10.0.0.1", port=10250, capacity={"cpu": "1"}),
                               root_dir=tmp_path, **dns)
    return Kubelet(client, runtime, settings), runtime


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    made = Client("127.0.0.1:1")  # never reached: the sandbox step talks to the runtime only
    try:
        yield made
    finally:
        await made.close()


async def test_the_sandbox_gets_the_pods_dns_settings(tmp_path: Path, client: Client) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 192.168.1.1\nsearch corp.example\noptions edns0\n")
    kubelet, runtime = kubelet_for(tmp_path, client, cluster_dns=("10.96.0.10",), cluster_domain="cluster.local",
                                   resolv_conf=str(resolv))
    await kubelet.syncer._sandbox(pod("ClusterFirst"))
    assert [c.dns for c in runtime.configs] == [DnsConfig(
        servers=("10.96.0.10",),
        searches=("team-a.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example"),
        options=("ndots:5",))]
    assert [e for e in queued(kubelet) if e[2] == "Warning"] == []


async def test_missing_cluster_dns_is_recorded_on_the_node_and_the_pod(tmp_path: Path, client: Client) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 192.168.1.1\n")
    kubelet, runtime = kubelet_for(tmp_path, client, resolv_conf=str(resolv))
    await kubelet.syncer._sandbox(pod("ClusterFirst"))
    assert [c.dns for c in runtime.configs] == [DnsConfig(servers=("192.168.1.1",))]
    warnings = [e for e in queued(kubelet) if e[2] == "Warning"]
    assert warnings == [("Node", "n1", "Warning", "MissingClusterDNS", MISSING),
                        ("Pod", "web", "Warning", "MissingClusterDNS", f'pod: "web_team-a(uid-1)". {MISSING}')]
    node_ref = kubelet.recorder._queue._queue[0].involved  # type: ignore[attr-defined]
    assert (node_ref.uid, node_ref.namespace) == ("n1", "")


async def test_an_unreadable_resolver_file_fails_the_sandbox_with_failed_create_pod_sandbox(
        tmp_path: Path, client: Client) -> None:
    kubelet, runtime = kubelet_for(tmp_path, client, resolv_conf=str(tmp_path / "nope.conf"))
    assert await kubelet.syncer.sync(pod("Default")) == 2.0  # retried
    assert runtime.configs == [] and await runtime.list_sandboxes() == []
    assert ("Pod", "web", "Warning", "FailedCreatePodSandBox",
            f"Failed to create pod sandbox: open {tmp_path}/nope.conf: no such file or directory") in queued(kubelet)
    assert kubelet.syncer.states["uid-1"].sandbox is None


async def test_the_kubelet_tells_a_resolver_file_over_the_limits_on_its_node_at_start(
        tmp_path: Path, client: Client) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("search " + " ".join(f"d{i}.example" for i in range(30)) + "\n")
    kubelet, _ = kubelet_for(tmp_path, client, cluster_domain="cluster.local", resolv_conf=str(resolv))
    kubelet._check_resolv_conf()
    assert queued(kubelet) == [("Node", "n1", "Warning", "CheckLimitsForResolvConf",
                                f"Resolv.conf file '{resolv}' contains search line consisting of more than 29 "
                                "domains!")]
    quiet, _ = kubelet_for(tmp_path, client, resolv_conf=str(resolv))  # 30 fit without a cluster domain
    quiet._check_resolv_conf()
    unchecked, _ = kubelet_for(tmp_path, client, resolv_conf="")  # no file: nothing to check
    unchecked._check_resolv_conf()
    assert queued(quiet) == [] and queued(unchecked) == []
