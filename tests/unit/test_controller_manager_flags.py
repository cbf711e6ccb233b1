"""``skiff controller-manager`` flags and ``--controllers`` selection (kube-controller-manager's rules)."""

from __future__ import annotations

import pytest

from controllers.app import parse_args
from controllers.manager import enabled_controllers

ALL = ["deployment", "replicaset", "statefulset", "daemonset", "job", "cronjob", "ttl-after-finished", "endpoint"]


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
