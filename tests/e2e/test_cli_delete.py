"""``skiffctl delete`` as kubectl 1.32's: the grace period (--now, --grace-period=0 with and without
--force), --ignore-not-found and its default, --dry-run, -o name, --field-selector, a file's
objects in errors, and the cluster-scope warning.

The plane has no kubelet, so a pod bound to a node stays Terminating until its grace period is
over for the kubelet — except when --force removes it from the API at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

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
    forced_later = plane.ctl("delete", "pod", "q", "--force", "--grace-period=5", "-n", ns, check=False)
    assert (forced_later.returncode, forced_later.stderr.strip()) == (
        1, "error: --force and --grace-period greater than 0 cannot be specified together")


def test_a_missing_object_fails_unless_not_found_is_ignored(plane: ControlPlane, ns: str, tmp_path: Path) -> None:
    create(plane, ns, sample("ConfigMap", name="here"))
    missing = plane.ctl("delete", "configmap", "gone", "here", "-n", ns, check=False)
    assert (missing.returncode, missing.stdout, missing.stderr) == (
        1, 'configmap "here" deleted\n', 'Error from server (NotFound): configmaps "gone" not found\n')
    ignored = plane.ctl("delete", "configmap", "gone", "--ignore-not-found", "-n", ns)
    assert (ignored.stdout, ignored.stderr) == ("", "")
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(yaml.safe_dump(sample("ConfigMap", name="gone")))
    from_file = plane.ctl("delete", "-f", str(manifest), "-n", ns, check=False)
    assert (from_file.returncode, from_file.stderr) == (
        1, f'Error from server (NotFound): error when deleting "{manifest}": configmaps "gone" not found\n')
    assert plane.ctl("delete", "-f", str(manifest), "-n", ns, "--ignore-not-found").stdout == ""


def test_dry_runs_keep_the_object_and_say_so(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, sample("ConfigMap", name="kept"))
    client = plane.ctl("delete", "configmap", "kept", "--dry-run", "-n", ns)
    server = plane.ctl("delete", "configmap/kept", "--dry-run=server", "-n", ns)
    assert (client.stdout, server.stdout) == ('configmap "kept" deleted (dry run)\n',
                                              'configmap "kept" deleted (server dry run)\n')
    assert get_json(plane, ns, "configmap/kept")["metadata"].get("deletionTimestamp") is None
    refused = plane.ctl("delete", "configmap", "absent", "--dry-run=server", "-n", ns, check=False)
    assert refused.stderr == 'Error from server (NotFound): configmaps "absent" not found\n'


def test_output_name_and_field_selector(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, sample("ConfigMap", name="a"), sample("ConfigMap", name="b"))
    bad = plane.ctl("delete", "configmap", "a", "-o", "yaml", "-n", ns, check=False)
    assert (bad.returncode, bad.stderr) == (1, "error: unexpected -o output mode: yaml. We only support '-o name'\n")
    both = plane.ctl("delete", "configmaps", "--all", "--field-selector", "metadata.name=a", "-n", ns, check=False)
    assert both.stderr == "error: cannot set --all and --field-selector at the same time\n"
    one = plane.ctl("delete", "configmaps", "--field-selector", "metadata.name=a", "-o", "name", "-n", ns)
    assert one.stdout == "configmap/a\n"
    left = plane.ctl("get", "configmaps", "-n", ns, "-o", "name").stdout.split()
    assert "configmap/b" in left and "configmap/a" not in left
    none = plane.ctl("delete", "configmaps", "-l", "app=nothing", "-n", ns)
    assert (none.stdout, none.stderr) == ("No resources found\n", "")


def test_a_cluster_scoped_object_named_with_a_namespace_is_warned_about(plane: ControlPlane, ns: str) -> None:
    victim = plane.new_namespace()
    result = plane.ctl("delete", "namespace", victim, "-n", ns, "--wait=false")
    assert (result.stdout, result.stderr) == (
        f'namespace "{victim}" deleted\n',
        "Warning: deleting cluster-scoped resources, not scoped to the provided namespace\n")
    quiet = plane.ctl("delete", "namespace", "never-there", "--ignore-not-found")
    assert quiet.stderr == ""
