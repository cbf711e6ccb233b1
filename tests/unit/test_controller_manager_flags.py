"""``skiff controller-manager`` flags and ``--controllers`` selection (kube-controller-manager's rules)."""

from __future__ import annotations

import pytest

from controllers.app import parse_args
from controllers.manager import enabled_controllers

ALL = ["deployment", "replicaset", "statefulset", "daemonset", "job", "cronjob", "ttl-after-finished", "endpoint",
       "nodelifecycle", "taint-eviction", "podgc"]


@pytest.mark.parametrize(("selection", "expected"), [
    (("*",), [*ALL, "garbagecollector"]),
    (("*", "-garbagecollector"), ALL),
    (("replicaset",), ["replicaset"]),
    (("replicaset", "-replicaset"), []),
    ((), []),
])
def test_controllers_selection(selection: tuple[str, ...], expected: list[str]) -> None:
    assert enabled_controllers(selection) == expected


def test_an_unknown_controller_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown controllers: nope"):
        enabled_controllers(("*", "-nope"))


def test_flags_follow_kube_controller_manager() -> None:
    flags = parse_args(["--server", "127.0.0.1:7443", "--leader-elect=false", "--leader-elect-lease-duration", "20",
                        "--metrics-port", "10257", "--concurrent-replicaset-syncs", "7", "--concurrent-job-syncs", "3",
                        "--enable-garbage-collector=false"])
    assert (flags.server, flags.leader_elect, flags.lease_duration, flags.metrics_port) == (
        "127.0.0.1:7443", False, 20.0, 10257)
    assert (flags.lease_namespace, flags.lease_name) == ("kube-system", "kube-controller-manager")
    assert (flags.manager.concurrent_replicaset_syncs, flags.manager.concurrent_job_syncs) == (7, 3)
    assert enabled_controllers(flags.manager.controllers) == ALL
    assert parse_args([]).leader_elect is True


def test_a_bad_boolean_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--leader-elect=maybe"])
    assert "invalid boolean value 'maybe'" in capsys.readouterr().err


def test_node_monitor_flags_take_go_durations() -> None:
    flags = parse_args(["--node-monitor-grace-period", "40s", "--node-monitor-period", "2",
                        "--node-startup-grace-period", "1m30s"])
    manager = flags.manager
    assert (manager.node_monitor_grace_period, manager.node_monitor_period, manager.node_startup_grace_period) == (
        40.0, 2.0, 90.0)
    defaults = parse_args([]).manager
    assert (defaults.node_monitor_grace_period, defaults.node_monitor_period) == (50.0, 5.0)


def test_a_bad_duration_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--node-monitor-grace-period", "forty"])
    assert 'time: invalid duration "forty"' in capsys.readouterr().err
