"""``skiff proxy``'s flags for cluster DNS, and the pinned cluster DNS address."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from proxy.addresses import LocalAddresses
from proxy.app import host_nameservers, parse_args


def test_dns_flags_and_upstreams(tmp_path: Path) -> None:
    flags = parse_args(["--cluster-dns", "10.96.0.10", "--cluster-domain", "example.local.",
                        "--dns-port", "5353", "--dns-upstream", "10.0.0.2, 10.0.0.3:5300,[fd00::1]:53"])
    assert (flags.cluster_dns, flags.cluster_domain, flags.dns_port) == ("10.96.0.10", "example.local", 5353)
    assert flags.dns_upstreams == (("10.0.0.2", 53), ("10.0.0.3", 5300), ("fd00::1", 53))
    assert parse_args([]).cluster_dns == ""  # no DNS unless asked


def test_a_bad_upstream_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--cluster-dns", "10.96.0.10", "--dns-upstream", "10.0.0.2:dns"])
    assert "argument --dns-upstream: invalid upstream '10.0.0.2:dns': want IP or IP:PORT" in capsys.readouterr().err


def test_host_nameservers_are_read_from_resolv_conf(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# written by hand\nsearch example.com\nnameserver 192.0.2.1\nnameserver  fd00::53\n"
                    "options ndots:2\nnameserver\n")
    assert host_nameservers(str(conf)) == (("192.0.2.1", 53), ("fd00::53", 53))
    assert host_nameservers(str(tmp_path / "missing")) == ()


def test_a_pinned_address_outlives_the_services_until_the_proxy_stops() -> None:
    calls: list[list[str]] = []

    def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    addresses = LocalAddresses(run=run)
    assert addresses.pin("10.96.0.10") and addresses.ensure("10.96.0.20")
    addresses.release("10.96.0.10")
    addresses.release("10.96.0.20")
    assert addresses.added == {"10.96.0.10"}
    addresses.release_all()
    assert addresses.added == set()
    assert calls[-1] == ["ip", "addr", "del", "10.96.0.10/32", "dev", "lo"]
