"""``skiffctl delete``'s grace period as kubectl's: --now, --grace-period=0 with and without --force.

The plane has no kubelet, so a pod bound to a node stays Terminating until its grace period is
over for the kubelet — except when --force removes it from the API at once.
"""

from __future__ import annotations

from typing import Any

from tests.support.plane_client import create, get_json
from tests.support.processes import ControlPlane
from tests.support.samples import sample

IMMEDIATE = ("Warning: Immediate deletion does not wait for confirmation that the running resource has been "
             "terminated. The resource may continue to run on the cluster indefinitely.")


def bound_pod(name: str) -> dict[str, Any]:
    doc = sample("Pod", name=name)
    doc["spec"]["nodeName"] = "no-such-node"
    return doc


def test_force_removes_a_bound_pod_at_once_with_kubectls_warning(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, bound_pod("p"))
    result = plane.ctl("delete", "pod", "p", "--force", "-n", ns)
    assert (result.stdout, result.stderr.strip()) == ('pod "p" force deleted\n', IMMEDIATE)
    assert plane.ctl("get", "pod", "p", "-n", ns, check=False).returncode == 1


def test_grace_period_zero_without_force_is_one_second(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, bound_pod("p"), bound_pod("q"))
    result = plane.ctl("delete", "pod", "p", "--grace-period=0", "--wait=false", "-n", ns)
    assert result.stdout == 'pod "p" deleted\n'
    meta = get_json(plane, ns, "pod/p")["metadata"]
    assert meta["deletionGracePeriodSeconds"] == 1 and meta["deletionTimestamp"]  # waits for its kubelet
    now = plane.ctl("delete", "pod", "q", "--now", "--wait=false", "-n", ns)
    assert now.stdout == 'pod "q" deleted\n'
    assert get_json(plane, ns, "pod/q")["metadata"]["deletionGracePeriodSeconds"] == 1
    both = plane.ctl("delete", "pod", "q", "--now", "--grace-period=5", "-n", ns, check=False)
    assert (both.returncode, both.stderr.strip()) == (1, "error: --now and --grace-period cannot be specified together")
    forced_later = plane.ctl("delete", "pod", "q", "--force", "--grace-period=5", "--wait=false", "-n", ns)
    assert forced_later.stderr.strip() == "warning: --force is ignored because --grace-period is not 0."
