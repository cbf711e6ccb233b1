"""``skiffctl replace --force`` and ``--save-config`` (``create -f``, ``replace``) as kubectl 1.32's.

``replace --force`` deletes each object of the files, waits until it is gone and creates it again
(kubectl's replace.go forceReplace): a new object, a new uid; a missing object is simply created.
Its delete flags need ``--force``, and ``--force`` refuses ``--dry-run``, in kubectl's words.
``--save-config`` stores the last-applied annotation apply would write, so a later apply of the
same manifest is ``unchanged``.

The plane has no kubelet, so a pod bound to a node stays Terminating: a forced replace of it waits
until its ``--timeout``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import skiffctl
from tests.support.plane_client import create, get_json
from tests.support.processes import ControlPlane
from tests.support.samples import sample

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def write(tmp_path: Path, *docs: dict[str, Any]) -> str:
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return str(path)


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def test_force_deletes_then_creates_each_object_again(plane: ControlPlane, ns: str, tmp_path: Path) -> None:
    create(plane, ns, configmap("a", v="1"), configmap("b", v="1"))
    uids = {n: get_json(plane, ns, f"configmap/{n}")["metadata"]["uid"] for n in ("a", "b")}
    manifest = write(tmp_path, configmap("a", v="2"), configmap("b", v="2"))
    result = plane.ctl("replace", "--force", "-f", manifest, "-n", ns)
    assert (result.stdout, result.stderr) == (
        'configmap "a" deleted\nconfigmap "b" deleted\nconfigmap/a replaced\nconfigmap/b replaced\n', "")
    for name in ("a", "b"):
        live = get_json(plane, ns, f"configmap/{name}")
        assert live["data"] == {"v": "2"}
        assert live["metadata"]["uid"] != uids[name]  # a new object, not an update


def test_force_creates_what_is_missing_and_prints_names(plane: ControlPlane, ns: str, tmp_path: Path) -> None:
    create(plane, ns, configmap("here", v="1"))
    manifest = write(tmp_path, configmap("here", v="2"), configmap("new", v="2"))
    result = plane.ctl("replace", "--force", "--grace-period=0", "--cascade=background", "-f", manifest, "-n", ns)
    assert (result.stdout, result.stderr) == ('configmap "here" deleted\nconfigmap/here replaced\n'
                                              "configmap/new replaced\n", "")
    assert get_json(plane, ns, "configmap/new")["data"] == {"v": "2"}
    named = plane.ctl("replace", "--force", "--wait", "-o", "name", "-f", manifest, "-n", ns)
    assert named.stdout == "configmap/here\nconfigmap/new\nconfigmap/here\nconfigmap/new\n"


def test_plain_replace_updates_the_same_object(plane: ControlPlane, ns: str, tmp_path: Path) -> None:
    create(plane, ns, configmap("same", v="1"))
    uid = get_json(plane, ns, "configmap/same")["metadata"]["uid"]
    result = plane.ctl("replace", "-f", write(tmp_path, configmap("same", v="2")), "-n", ns)
    assert result.stdout == "configmap/same replaced\n"
    live = get_json(plane, ns, "configmap/same")
    assert (live["metadata"]["uid"], live["data"]) == (uid, {"v": "2"})


def test_force_waits_for_the_deletion_until_its_timeout(plane: ControlPlane, ns: str, tmp_path: Path) -> None:
    pod = sample("Pod", name="p")
    pod["spec"]["nodeName"] = "no-such-node"  # no kubelet: it stays Terminating
    create(plane, ns, pod)
    result = plane.ctl("replace", "--force", "--timeout=2s", "-f", write(tmp_path, pod), "-n", ns, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (
        1, 'pod "p" deleted\n', "error: timed out waiting for the condition on pods/p\n")
    assert get_json(plane, ns, "pod/p")["metadata"]["deletionTimestamp"]  # not created again


def test_kubectls_errors_for_flags_force_does_not_go_with(plane: ControlPlane, ns: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    manifest = write(tmp_path, configmap("x", v="1"))
    for flags, error in [
        (["--force", "--dry-run=client"], "error: --dry-run can not be used when --force is set"),
        (["--force", "--dry-run=server"], "error: --dry-run can not be used when --force is set"),
        (["--grace-period=5"], "error: --grace-period must have --force specified"),
        (["--grace-period=0"], "error: --grace-period must have --force specified"),
        (["--timeout=5s"], "error: --timeout must have --force specified"),
        (["--force", "--cascade=bogus"],
         'error: invalid cascade value (bogus). Must be "background", "foreground", or "orphan"'),
    ]:
        result = skiffctl(["replace", *flags, "-f", manifest, "-n", ns, "-s", plane.server], capsys)  # in-process
        assert result == (1, "", error + "\n"), flags
    assert plane.ctl("get", "configmap", "x", "-n", ns, check=False).returncode == 1  # nothing was sent


def test_create_save_config_lets_a_later_apply_be_unchanged(plane: ControlPlane, ns: str, tmp_path: Path) -> None:
    doc = configmap("saved", v="1")
    doc["metadata"]["labels"] = {"app": "web"}
    manifest = write(tmp_path, doc)
    assert plane.ctl("create", "-f", manifest, "--save-config", "-n", ns).stdout == "configmap/saved created\n"
    annotation = get_json(plane, ns, "configmap/saved")["metadata"]["annotations"][LAST_APPLIED]
    assert json.loads(annotation) == {"apiVersion": "v1", "kind": "ConfigMap", "data": {"v": "1"},
                                      "metadata": {"name": "saved", "namespace": ns, "labels": {"app": "web"}}}
    assert plane.ctl("apply", "-f", manifest, "-n", ns).stdout == "configmap/saved unchanged\n"
    # without the flag there is no annotation, and apply has something to write
    plain = write(tmp_path, configmap("plain", v="1"))
    plane.ctl("create", "-f", plain, "-n", ns)
    assert LAST_APPLIED not in (get_json(plane, ns, "configmap/plain")["metadata"].get("annotations") or {})
    assert plane.ctl("apply", "-f", plain, "-n", ns).stdout == "configmap/plain configured\n"


def test_save_config_on_dry_run_and_forced_replace(plane: ControlPlane, ns: str, tmp_path: Path) -> None:
    manifest = write(tmp_path, configmap("dry", v="1"))
    printed = yaml.safe_load(plane.ctl("create", "-f", manifest, "--save-config", "--dry-run=client", "-o", "yaml",
                                       "-n", ns).stdout)
    assert json.loads(printed["metadata"]["annotations"][LAST_APPLIED])["data"] == {"v": "1"}
    create(plane, ns, configmap("dry", v="0"))
    result = plane.ctl("replace", "--force", "--save-config", "-f", manifest, "-n", ns)
    assert result.stdout == 'configmap "dry" deleted\nconfigmap/dry replaced\n'
    assert plane.ctl("apply", "-f", manifest, "-n", ns).stdout == "configmap/dry unchanged\n"
