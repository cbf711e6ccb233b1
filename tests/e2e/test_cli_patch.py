"""``skiffctl patch`` as a subprocess against a real apiserver: the three patch types, the status and
scale subresources, --dry-run, --local, -o, and kubectl's messages for bad input."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.plane_client import create, get_json
from tests.support.processes import ControlPlane
from tests.support.samples import sample


def test_strategic_merge_json_patches_and_no_change(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, sample("Deployment", name="web"))
    container = get_json(plane, ns, "deployment/web")["spec"]["template"]["spec"]["containers"][0]["name"]
    strategic = json.dumps({"spec": {"template": {"spec": {"containers": [
        {"name": container, "image": "busybox:2"}]}}}})
    assert plane.ctl("patch", "deployment", "web", "-p", strategic, "-n", ns).stdout == "deployment.apps/web patched\n"
    assert plane.ctl("patch", "deployment/web", "-p", strategic, "-n", ns).stdout == \
        "deployment.apps/web patched (no change)\n"
    stored = get_json(plane, ns, "deployment/web")
    assert [c["image"] for c in stored["spec"]["template"]["spec"]["containers"]] == ["busybox:2"]

    merged = plane.ctl("patch", "deploy", "web", "--type", "merge", "-p", "metadata: {labels: {tier: web}}",
                       "-n", ns)
    assert merged.stdout == "deployment.apps/web patched\n"  # YAML is accepted, as in kubectl
    ops = ('[{"op": "test", "path": "/spec/replicas", "value": 2}, '
           '{"op": "replace", "path": "/spec/replicas", "value": 5}]')
    assert plane.ctl("patch", "deploy", "web", "--type=json", "-p", ops, "-n", ns).stdout == \
        "deployment.apps/web patched\n"
    stored = get_json(plane, ns, "deployment/web")
    assert stored["spec"]["replicas"] == 5 and stored["metadata"]["labels"]["tier"] == "web"


def test_output_dry_run_status_and_scale(plane: ControlPlane, ns: str, tmp_path: Path) -> None:
    create(plane, ns, sample("Deployment", name="web"))
    printed = plane.ctl("patch", "deploy", "web", "-p", '{"spec": {"paused": true}}', "-o", "json", "-n", ns)
    assert json.loads(printed.stdout)["spec"]["paused"] is True
    dry = plane.ctl("patch", "deploy", "web", "-p", '{"spec": {"replicas": 9}}', "--dry-run=client", "-n", ns)
    assert dry.stdout == "deployment.apps/web patched (dry run)\n"
    dry = plane.ctl("patch", "deploy", "web", "-p", '{"spec": {"replicas": 9}}', "--dry-run=server", "-n", ns)
    assert dry.stdout == "deployment.apps/web patched (server dry run)\n"
    assert get_json(plane, ns, "deployment/web")["spec"]["replicas"] == 2  # neither dry run wrote

    status = plane.ctl("patch", "deploy", "web", "--subresource", "status", "--type", "merge",
                       "-p", '{"status": {"observedGeneration": 7}, "spec": {"replicas": 4}}', "-n", ns)
    assert status.stdout == "deployment.apps/web patched\n"
    stored = get_json(plane, ns, "deployment/web")
    assert stored["status"]["observedGeneration"] == 7 and stored["spec"]["replicas"] == 2  # status only

    scaled = plane.ctl("patch", "deploy", "web", "--subresource=scale", "--type=merge",
                       "-p", '{"spec": {"replicas": 3}}', "-n", ns)
    assert scaled.stdout == "scale.autoscaling/web patched\n"
    assert get_json(plane, ns, "deployment/web")["spec"]["replicas"] == 3

    patch_file = tmp_path / "patch.yaml"
    patch_file.write_text("spec:\n  replicas: 1\n")
    assert plane.ctl("patch", "deploy", "web", "--patch-file", str(patch_file), "-n", ns).stdout == \
        "deployment.apps/web patched\n"
    assert get_json(plane, ns, "deployment/web")["spec"]["replicas"] == 1


def test_local_patches_a_file_without_the_server(plane: ControlPlane, ns: str, tmp_path: Path) -> None:
    manifest = tmp_path / "web.json"
    manifest.write_text(json.dumps(sample("Deployment", name="local-only")))
    out = plane.ctl("patch", "-f", str(manifest), "--local", "-p", '{"spec": {"replicas": 7}}', "-o", "yaml",
                    "-n", ns)
    assert "replicas: 7" in out.stdout
    missing = plane.ctl("get", "deployment", "local-only", "-n", ns, check=False)
    assert missing.returncode == 1  # nothing was sent


def test_bad_input_is_refused_with_kubectls_messages(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, sample("Deployment", name="web"))
    cases = [
        (["deploy", "web"], "error: must specify --patch or --patch-file containing the contents of the patch"),
        (["deploy", "web", "-p", "{}", "--patch-file", "x"], "error: cannot specify --patch and --patch-file together"),
        (["deploy", "web", "-p", "{}", "--type", "foo"],
         'error: --type must be one of [json merge strategic], not "foo"'),
        (["deploy", "web", "-p", "{}", "--local"], "error: cannot specify --local and server resources"),
        (["deploy", "web", "--type", "json", "-p", '{"spec": {}}'],
         'error: a json patch must be a list of operations, such as [{"op": "replace", "path": "/spec/replicas", '
         '"value": 3}]'),
        (["deploy", "web", "--type", "json", "-p", '[{"op": "replace", "path": "/spec/replicaz", "value": 1}]'],
         "Error from server (BadRequest): json patch operation 0 (replace /spec/replicaz): the path does not exist "
         "(no 'replicaz' at /spec)"),
        (["deploy", "web", "-p", '{"spec": {"replicaz": 1}}'],
         'Error from server (BadRequest): the patch does not fit Deployment: unknown field "spec.replicaz"'),
        (["deploy", "web", "-p", '{"spec": {"replicas": -1}}'],
         'The Deployment "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0'),
        (["deploy", "nope", "-p", "{}"], 'Error from server (NotFound): deployments.apps "nope" not found'),
    ]
    for args, message in cases:
        result = plane.ctl("patch", *args, "-n", ns, check=False)
        assert (result.returncode, result.stderr.strip()) == (1, message), args
    assert get_json(plane, ns, "deployment/web")["spec"]["replicas"] == 2  # nothing half-written
