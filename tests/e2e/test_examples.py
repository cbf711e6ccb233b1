"""The example manifests in deploy/examples/ are the Kubernetes basics a new user tries first, so
each must be accepted as written and must come back from the server as written.

One namespace holds them all: ``apply -f deploy/examples/`` creates every object, a second apply
reports every object ``unchanged``, and for every object ``get -o yaml`` contains every field of
its manifest with the same value. The last check is a recursive subset test: the server may add
(defaults, status, uid, ...) but may not drop or change anything the manifest says. Lists are
compared item by item from the start; the server may append items (as Kubernetes appends the
default ``not-ready`` toleration to a pod's) but a lost or reordered container or port is caught.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from skiff.api import kinds
from tests.support.processes import ControlPlane

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"


def manifests() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def object_name(doc: dict[str, Any]) -> str:
    """``deployment.apps/web``: how apply names the object in its output."""
    kind = kinds.by_gvk(doc["apiVersion"], doc["kind"])
    singular = f"{kind.singular}.{kind.group}" if kind.group else kind.singular
    return f"{singular}/{doc['metadata']['name']}"


def missing(expected: Any, got: Any, path: str = "") -> list[str]:
    """Where ``got`` lost or changed something of ``expected`` (empty when it is a superset)."""
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return [f"{path}: expected an object, got {got!r}"]
        out: list[str] = []
        for key, value in expected.items():
            where = f"{path}.{key}" if path else key
            out += missing(value, got[key], where) if key in got else [f"{where}: missing"]
        return out
    if isinstance(expected, list):
        if not isinstance(got, list) or len(got) < len(expected):
            return [f"{path}: expected {expected!r}, got {got!r}"]
        return [m for i, e in enumerate(expected) for m in missing(e, got[i], f"{path}[{i}]")]
    return [] if expected == got else [f"{path}: expected {expected!r}, got {got!r}"]


def test_missing_finds_lost_and_changed_fields() -> None:
    expected = {"spec": {"replicas": 3, "ports": [{"port": 80}], "paused": False}}
    got = {"spec": {"replicas": 2, "ports": [{"port": 80, "protocol": "TCP"}], "extra": 1}, "status": {}}
    assert missing(expected, got) == ["spec.replicas: expected 3, got 2", "spec.paused: missing"]
    assert missing({"a": [1, 2]}, {"a": [1]}) == ["a: expected [1, 2], got [1]"]
    assert missing({"a": [1, 2]}, {"a": [2, 1]}) == ["a[0]: expected 1, got 2", "a[1]: expected 2, got 1"]
    assert missing({"a": [{"k": 1}]}, {"a": [{"k": 1, "d": 0}, {"k": 9}]}) == []


def test_every_kind_of_the_basics_has_an_example() -> None:
    found = {doc["kind"] for doc in manifests()}
    assert {"Deployment", "Service", "StatefulSet", "DaemonSet", "Job", "CronJob", "Secret", "ConfigMap",
            "Pod"} <= found
    readme = (EXAMPLES / "README.md").read_text()
    for path in EXAMPLES.glob("*.yaml"):
        assert f"`{path.name}`" in readme, f"{path.name} is not listed in deploy/examples/README.md"


@pytest.fixture(scope="module")
def applied(plane: ControlPlane) -> tuple[str, str]:
    """The namespace the examples were applied to, and what the first apply printed."""
    namespace = plane.new_namespace()
    first = plane.ctl("apply", "-f", str(EXAMPLES), "-n", namespace)
    return namespace, first.stdout


def test_apply_creates_every_object(applied: tuple[str, str]) -> None:
    _, out = applied
    for doc in manifests():
        assert f"{object_name(doc)} created" in out.splitlines()


def test_second_apply_changes_nothing(plane: ControlPlane, applied: tuple[str, str]) -> None:
    namespace, _ = applied
    again = plane.ctl("apply", "-f", str(EXAMPLES), "-n", namespace)
    assert sorted(again.stdout.splitlines()) == sorted(f"{object_name(d)} unchanged" for d in manifests())


@pytest.mark.parametrize("doc", manifests(), ids=object_name)
def test_round_trip_keeps_every_field(plane: ControlPlane, applied: tuple[str, str], doc: dict[str, Any]) -> None:
    namespace, _ = applied
    got = yaml.safe_load(plane.ctl("get", object_name(doc), "-n", namespace, "-o", "yaml").stdout)
    assert missing(doc, got) == []
