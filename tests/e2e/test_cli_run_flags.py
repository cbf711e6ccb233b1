"""``skiffctl run``'s kubectl 1.32 flags against a real apiserver: ``--annotations``,
``--privileged``, ``--overrides`` (``--override-type`` merge, strategic, json) and ``--expose``
(the pod and a ClusterIP Service selecting it, printed Service first as kubectl does), read back
from the server. The dry-run output is compared with the real kubectl's in
tests/unit/test_generators.py.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.processes import ControlPlane


def get_json(plane: ControlPlane, ns: str, target: str) -> Any:
    return json.loads(plane.ctl("get", target, "-n", ns, "-o", "json").stdout)


def test_annotations_privileged_and_overrides_reach_the_stored_pod(plane: ControlPlane, ns: str) -> None:
    overrides = json.dumps({"apiVersion": "v1", "spec": {"nodeName": "nowhere", "containers": [
        {"name": "a", "image": "busybox", "env": [{"name": "B", "value": "2"}]}]}})
    out = plane.ctl("-n", ns, "run", "a", "--image=busybox", "--env=A=1", "--annotations=team=core",
                    "--annotations=note=x=y,z", "--privileged", "--override-type=strategic",
                    f"--overrides={overrides}", "--restart=Never").stdout
    assert out == "pod/a created\n"
    pod = get_json(plane, ns, "pod/a")
    assert pod["metadata"]["annotations"] == {"team": "core", "note": "x=y,z"}
    container = pod["spec"]["containers"][0]
    assert container["securityContext"] == {"privileged": True}
    assert {e["name"]: e["value"] for e in container["env"]} == {"A": "1", "B": "2"}
    assert pod["spec"]["nodeName"] == "nowhere" and pod["spec"]["restartPolicy"] == "Never"


def test_merge_and_json_overrides(plane: ControlPlane, ns: str) -> None:
    merge = json.dumps({"apiVersion": "v1", "metadata": {"labels": {"extra": "1"}},
                        "spec": {"containers": [{"name": "m", "image": "redis"}]}})
    plane.ctl("-n", ns, "run", "m", "--image=busybox", f"--overrides={merge}")
    pod = get_json(plane, ns, "pod/m")
    assert pod["metadata"]["labels"] == {"run": "m", "extra": "1"}
    assert [(c["name"], c["image"], c.get("args")) for c in pod["spec"]["containers"]] == [("m", "redis", None)]
    ops = json.dumps([{"op": "replace", "path": "/spec/restartPolicy", "value": "OnFailure"}])
    plane.ctl("-n", ns, "run", "j", "--image=busybox", "--override-type=json", f"--overrides={ops}")
    assert get_json(plane, ns, "pod/j")["spec"]["restartPolicy"] == "OnFailure"


def test_expose_creates_the_pod_and_a_service_selecting_it(plane: ControlPlane, ns: str) -> None:
    out = plane.ctl("-n", ns, "run", "web", "--image=nginx", "--expose", "--port=8080").stdout
    assert out == "service/web created\npod/web created\n"
    svc = get_json(plane, ns, "svc/web")
    assert svc["spec"]["selector"] == {"run": "web"} and svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["clusterIP"]
    assert [(p["port"], p["protocol"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(8080, "TCP", 8080)]
    assert "labels" not in svc["metadata"]
    pod = get_json(plane, ns, "pod/web")
    assert pod["metadata"]["labels"] == {"run": "web"}
    assert pod["spec"]["containers"][0]["ports"][0]["containerPort"] == 8080

    out = plane.ctl("-n", ns, "run", "api", "--image=nginx", "--expose", "--port=80", "-l", "app=api,tier=x",
                    "-o", "name").stdout
    assert out == "service/api\npod/api\n"
    svc = get_json(plane, ns, "svc/api")
    assert svc["metadata"]["labels"] == {"app": "api", "tier": "x"}
    assert svc["spec"]["selector"] == svc["metadata"]["labels"]


def test_expose_when_the_service_exists_still_creates_and_prints_the_pod(plane: ControlPlane, ns: str) -> None:
    plane.ctl("-n", ns, "create", "service", "clusterip", "taken", "--tcp=80")
    result = plane.ctl("-n", ns, "run", "taken", "--image=nginx", "--expose", "--port=80", check=False)
    assert result.returncode == 1
    assert result.stdout == "pod/taken created\n"
    assert 'services "taken" already exists' in result.stderr
    assert get_json(plane, ns, "pod/taken")["metadata"]["name"] == "taken"


def test_server_dry_run_with_expose_stores_nothing(plane: ControlPlane, ns: str) -> None:
    out = plane.ctl("-n", ns, "run", "dry", "--image=nginx", "--expose", "--port=80", "--dry-run=server").stdout
    assert out == "service/dry created (server dry run)\npod/dry created (server dry run)\n"
    assert plane.ctl("-n", ns, "get", "pod/dry", check=False).returncode == 1
    assert plane.ctl("-n", ns, "get", "svc/dry", check=False).returncode == 1
