"""``skiffctl apply`` against a real apiserver: the three-way patch on annotations and labels.

The last-applied annotation travels in the patch beside the user's own annotations, so a manifest
that drops every annotation it had still removes them (and keeps what another writer added), and
a second apply of the same manifest is ``unchanged`` — kubectl's behaviour.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.processes import ControlPlane

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def config_map(annotations: dict[str, str] | None) -> str:
    meta: dict[str, Any] = {"name": "cfg"}
    if annotations is not None:
        meta["annotations"] = annotations
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}})


def annotations_of(plane: ControlPlane, ns: str) -> dict[str, str]:
    live = json.loads(plane.ctl("get", "configmap", "cfg", "-n", ns, "-o", "json").stdout)
    return dict(live["metadata"].get("annotations", {}))


def test_a_manifest_that_drops_all_its_annotations_removes_them(plane: ControlPlane, ns: str) -> None:
    assert plane.ctl("apply", "-n", ns, "-f", "-", stdin=config_map({"team": "a"})).stdout == "configmap/cfg created\n"
    plane.ctl("annotate", "-n", ns, "configmap", "cfg", "other=x")

    out = plane.ctl("apply", "-n", ns, "-f", "-", stdin=config_map(None))
    assert out.stdout == "configmap/cfg configured\n"
    annotations = annotations_of(plane, ns)
    assert "team" not in annotations and annotations["other"] == "x"
    assert "annotations" not in json.loads(annotations[LAST_APPLIED])["metadata"]

    again = plane.ctl("apply", "-n", ns, "-f", "-", stdin=config_map(None))
    assert again.stdout == "configmap/cfg unchanged\n"


UNKNOWN_FIELDS = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: loose, colour: red}\n"
                  "data: {a: b}\nfoo: 1\n")


def test_validate_strict_refuses_unknown_fields_warn_and_ignore_drop_them(plane: ControlPlane, ns: str) -> None:
    strict = plane.ctl("apply", "-n", ns, "-f", "-", stdin=UNKNOWN_FIELDS, check=False)
    assert strict.returncode == 1 and 'unknown field "metadata.colour"' in strict.stderr
    assert plane.ctl("get", "configmap", "loose", "-n", ns, check=False).returncode == 1
    warned = plane.ctl("apply", "-n", ns, "--validate=warn", "-f", "-", stdin=UNKNOWN_FIELDS)
    assert (warned.stdout, warned.stderr) == (
        "configmap/loose created\n", 'Warning: unknown field "metadata.colour"\nWarning: unknown field "foo"\n')
    ignored = plane.ctl("replace", "-n", ns, "--validate=false", "-f", "-", stdin=UNKNOWN_FIELDS)
    assert (ignored.stdout, ignored.stderr) == ("configmap/loose replaced\n", "")
    stored = json.loads(plane.ctl("get", "configmap", "loose", "-n", ns, "-o", "json").stdout)
    assert stored["data"] == {"a": "b"} and "foo" not in stored
    typo = plane.ctl("create", "-n", ns, "--validate=maybe", "-f", "-", stdin=UNKNOWN_FIELDS, check=False)
    assert (typo.returncode, typo.stderr) == (
        1, 'error: invalid - validate option "maybe"; must be one of: strict (or true), warn, ignore (or false)\n')
