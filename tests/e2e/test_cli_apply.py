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
