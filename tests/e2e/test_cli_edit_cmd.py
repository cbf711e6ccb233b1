"""``skiffctl edit`` as a subprocess against a real apiserver, with scripted editors.

The editor is a small shell script the test writes (EDITOR, which skiffctl reads from the
environment ``plane.ctl`` passes on); it rewrites the file it is given with sed, keeps a copy of
what it was shown, and counts its runs so the second opening (after an error) can act
differently from the first. TMPDIR points at the test's own directory, so the files skiffctl
keeps on errors land there.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.plane_client import create, get_json
from tests.support.processes import BIN, ControlPlane
from tests.support.samples import sample

HEADER = "# Please edit the object below. Lines beginning with a '#' will be ignored,\n"


@pytest.fixture
def editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the test's editor script goes; EDITOR and TMPDIR are set for skiffctl."""
    script = tmp_path / "editor.sh"
    monkeypatch.setenv("EDITOR", str(script))
    monkeypatch.delenv("KUBE_EDITOR", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    return script


def write_editor(script: Path, *runs: str) -> None:
    """An editor whose n-th run executes ``runs[n-1]`` (the last one again after that) on ``$1``,
    having copied what it was shown to ``seen.<n>`` next to itself."""
    lines = [
        "#!/bin/sh",
        "set -e",
        f'dir="{script.parent}"',
        'n=$(( $(cat "$dir/count" 2>/dev/null || echo 0) + 1 )); echo $n > "$dir/count"',
        'cp "$1" "$dir/seen.$n"',
        'case $n in',
        *(f"  {i}) {run} ;;" for i, run in enumerate(runs[:-1], start=1)),
        f"  *) {runs[-1]} ;;",
        "esac",
    ]
    script.write_text("\n".join(lines) + "\n")
    script.chmod(0o755)


def seen(script: Path, n: int) -> str:
    return (script.parent / f"seen.{n}").read_text()


def runs(script: Path) -> int:
    return int((script.parent / "count").read_text())


def kept_files(tmp_path: Path) -> list[Path]:
    return sorted(tmp_path.glob("skiffctl-edit-*"))


def deployment(plane: ControlPlane, ns: str, name: str = "web", replicas: int = 1) -> None:
    doc = sample("Deployment", name=name)
    doc["spec"]["replicas"] = replicas
    create(plane, ns, doc)


def test_edit_changes_a_field(plane: ControlPlane, ns: str, editor: Path, tmp_path: Path) -> None:
    deployment(plane, ns)
    write_editor(editor, 'sed -i "s/replicas: 1$/replicas: 3/" "$1"')
    r = plane.ctl("edit", "deployment", "web", "-n", ns)
    assert (r.stdout, r.stderr) == ("deployment.apps/web edited\n", "")
    assert get_json(plane, ns, "deployment/web")["spec"]["replicas"] == 3
    shown = seen(editor, 1)
    assert shown.startswith(HEADER + "# and an empty file will abort the edit. If an error occurs while saving this "
                            "file will be\n# reopened with the relevant failures.\n#\napiVersion: apps/v1\n")
    assert "\nkind: Deployment\n" in shown and f"  namespace: {ns}\n" in shown
    assert kept_files(tmp_path) == []  # the temporary file is removed after a successful edit


def test_output_patch_and_json(plane: ControlPlane, ns: str, editor: Path) -> None:
    deployment(plane, ns)
    write_editor(editor, """sed -i 's/"replicas": 1,/"replicas": 2,/' "$1\"""")
    r = plane.ctl("edit", "deploy/web", "-n", ns, "-o", "json", "--output-patch")
    assert seen(editor, 1).startswith("{\n    \"apiVersion\": \"apps/v1\",")  # JSON: no header
    first, rest = r.stdout.split("\n", 1)
    assert first == 'Patch: {"spec":{"replicas":2}}'
    assert json.loads(rest)["spec"]["replicas"] == 2  # -o json prints the edited object


def test_unchanged_and_emptied_files_cancel(plane: ControlPlane, ns: str, editor: Path, tmp_path: Path) -> None:
    deployment(plane, ns)
    write_editor(editor, 'sed -i "s/^# Please/#  Please/" "$1"')  # a comment changes: no change
    r = plane.ctl("edit", "deployment/web", "-n", ns)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "Edit cancelled, no changes made.\n")
    (tmp_path / "count").unlink()
    write_editor(editor, 'sed -i "/^[^#]/d" "$1"')  # only the comments are left
    r = plane.ctl("edit", "deployment/web", "-n", ns)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "Edit cancelled, saved file was empty.\n")
    assert kept_files(tmp_path) == []


def test_invalid_yaml_reopens_then_saves(plane: ControlPlane, ns: str, editor: Path) -> None:
    deployment(plane, ns)
    write_editor(editor, """printf 'oops: [\\n' >> "$1\"""",
                 'sed -i "/^oops: \\[$/d; s/replicas: 1$/replicas: 4/" "$1"')
    r = plane.ctl("edit", "deployment/web", "-n", ns)
    assert (r.stdout, r.stderr) == ("deployment.apps/web edited\n", "")
    assert runs(editor) == 2
    again = seen(editor, 2)
    assert again.startswith(HEADER)
    assert "\n# The edited file had a syntax error: error parsing edited-file: error parsing YAML:" in again
    assert "\noops: [\n" in again  # what was written is what opens again
    assert get_json(plane, ns, "deployment/web")["spec"]["replicas"] == 4


def test_saving_the_errored_file_unchanged_stops(plane: ControlPlane, ns: str, editor: Path,
                                                 tmp_path: Path) -> None:
    deployment(plane, ns)
    write_editor(editor, 'sed -i "s/replicas: 1$/replicas: -1/" "$1"', "true")
    r = plane.ctl("edit", "deployment/web", "-n", ns, check=False)
    assert r.returncode == 1 and r.stdout == ""
    [kept] = kept_files(tmp_path)
    assert r.stderr == (f'error: deployments.apps "web" is invalid\n'
                        f'A copy of your changes has been stored to "{kept}"\n'
                        "error: Edit cancelled, no valid changes were saved.\n")
    assert ('# deployments.apps "web" was not valid:\n'
            "# * spec.replicas: Invalid value: -1: must be greater than or equal to 0\n#\n") in seen(editor, 2)
    assert "replicas: -1" in kept.read_text()
    assert get_json(plane, ns, "deployment/web")["spec"]["replicas"] == 1


def test_a_field_that_does_not_decode_reopens(plane: ControlPlane, ns: str, editor: Path) -> None:
    deployment(plane, ns)
    write_editor(editor, 'sed -i "s/replicas: 1$/replicas: three/" "$1"',
                 'sed -i "s/replicas: three/replicas: 2/" "$1"')
    r = plane.ctl("edit", "deployment/web", "-n", ns)
    assert (r.stdout, r.stderr) == ("deployment.apps/web edited\n", 'error: deployments.apps "web" is invalid\n')
    assert ('# deployments.apps "web" was not valid:\n# * <nil>: Invalid value: "The edited file failed validation": '
            'error decoding Deployment "web": strict decoding error: spec.replicas') in seen(editor, 2)


def test_concurrent_change_to_another_field_is_kept(plane: ControlPlane, ns: str, editor: Path) -> None:
    deployment(plane, ns)
    # While the editor is open, someone else labels the deployment (the editor inherits SKIFF_SERVER).
    write_editor(editor, f'"{BIN / "skiffctl"}" label deployment web -n {ns} owner=ops >/dev/null; '
                         'sed -i "s/replicas: 1$/replicas: 5/" "$1"')
    assert plane.ctl("edit", "deployment/web", "-n", ns).stdout == "deployment.apps/web edited\n"
    got = get_json(plane, ns, "deployment/web")
    assert got["spec"]["replicas"] == 5
    assert got["metadata"]["labels"]["owner"] == "ops"


def test_changing_the_name_or_namespace_is_refused(plane: ControlPlane, ns: str, editor: Path,
                                                   tmp_path: Path) -> None:
    deployment(plane, ns)
    write_editor(editor, 'sed -i "s/^  name: web$/  name: web2/" "$1"')
    r = plane.ctl("edit", "deployment/web", "-n", ns, check=False)
    [kept] = kept_files(tmp_path)
    assert (r.returncode, r.stderr) == (1, f'A copy of your changes has been stored to "{kept}"\n'
                                           "error: At least one of apiVersion, kind and name was changed\n")
    kept.unlink()
    write_editor(editor, f'sed -i "s/^  namespace: {ns}$/  namespace: other/" "$1"')
    r = plane.ctl("edit", "deployment/web", "-n", ns, check=False)
    [kept] = kept_files(tmp_path)
    assert (r.returncode, r.stderr) == (1, f'A copy of your changes has been stored to "{kept}"\n'
                                           'error: the namespace from the provided object "other" does not match '
                                           f"the namespace \"{ns}\". You must pass '--namespace=other' to perform "
                                           "this operation.\n")


def test_several_objects_edit_as_a_list(plane: ControlPlane, ns: str, editor: Path) -> None:
    deployment(plane, ns, "a")
    deployment(plane, ns, "b", replicas=2)
    write_editor(editor, 'sed -i "s/replicas: 2$/replicas: 6/" "$1"')
    r = plane.ctl("edit", "deployments", "-n", ns)
    assert r.stdout == "deployment.apps/a skipped\ndeployment.apps/b edited\n"
    shown = seen(editor, 1)
    assert "\nitems:\n- apiVersion: apps/v1\n" in shown and shown.endswith("kind: List\nmetadata: {}\n")
    assert get_json(plane, ns, "deployment/b")["spec"]["replicas"] == 6


def test_save_config_and_editor_failures(plane: ControlPlane, ns: str, editor: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    deployment(plane, ns)
    write_editor(editor, 'sed -i "s/replicas: 1$/replicas: 2/" "$1"')
    plane.ctl("edit", "deployment/web", "-n", ns, "--save-config")
    annotations = get_json(plane, ns, "deployment/web")["metadata"]["annotations"]
    assert json.loads(annotations["kubectl.kubernetes.io/last-applied-configuration"])["spec"]["replicas"] == 2
    monkeypatch.setenv("EDITOR", "false")
    r = plane.ctl("edit", "deployment/web", "-n", ns, check=False)
    assert (r.returncode, r.stderr) == (1, 'error: there was a problem with the editor "false"\n')
    monkeypatch.setenv("KUBE_EDITOR", "no-such-editor-here")
    r = plane.ctl("edit", "deployment/web", "-n", ns, check=False)
    assert (r.returncode, r.stderr) == (1, 'error: unable to launch the editor "no-such-editor-here"\n')
    r = plane.ctl("edit", "deployment/nope", "-n", ns, check=False)
    assert (r.returncode, r.stderr) == (1, 'Error from server (NotFound): deployments.apps "nope" not found\n')


def test_save_config_records_non_ascii_text_as_apply_does(plane: ControlPlane, ns: str, editor: Path,
                                                         tmp_path: Path) -> None:
    """edit --save-config writes the last-applied annotation in apply's own text, so applying the
    manifest the edit saved finds nothing to do, whatever characters its values hold."""
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: {ns}\n"
                        "  labels: {app: web}\n  annotations: {note: \"caf\u00e9 \u65e5\u672c\"}\ndata: {k: v}\n")
    assert plane.ctl("apply", "-f", str(manifest)).stdout == "configmap/cm created\n"
    # What the person saves is the manifest itself with one change (and the uid edit requires).
    uid = get_json(plane, ns, "configmap/cm")["metadata"]["uid"]
    saved = tmp_path / "saved.yaml"
    saved.write_text(manifest.read_text().replace("{k: v}", "{k: w}")
                     .replace("  name: cm\n", f"  name: cm\n  uid: {uid}\n"))
    write_editor(editor, f'cat "{saved}" > "$1"')
    assert plane.ctl("edit", "cm/cm", "-n", ns, "--save-config").stdout == "configmap/cm edited\n"
    r = plane.ctl("apply", "-f", str(saved))
    assert (r.stdout, r.stderr) == ("configmap/cm unchanged\n", "")


def test_edit_objects_named_by_a_file(plane: ControlPlane, ns: str, editor: Path, tmp_path: Path) -> None:
    deployment(plane, ns)
    manifest = tmp_path / "web.yaml"
    manifest.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n")
    write_editor(editor, 'sed -i "s/^        app: demo$/        app: demo\\n        edited: \\"yes\\"/" "$1"')
    assert plane.ctl("edit", "-f", str(manifest), "-n", ns).stdout == "deployment.apps/web edited\n"
    got = get_json(plane, ns, "deployment/web")
    assert got["spec"]["selector"]["matchLabels"] == {"app": "demo"}
    assert got["spec"]["template"]["metadata"]["labels"] == {"app": "demo", "edited": "yes"}


def test_edit_the_status_subresource(plane: ControlPlane, ns: str, editor: Path) -> None:
    deployment(plane, ns)
    write_editor(editor, """printf 'status:\\n  observedGeneration: 7\\n' >> "$1\"""")
    r = plane.ctl("edit", "deployment/web", "-n", ns, "--subresource", "status", "--output-patch")
    assert r.stdout == 'Patch: {"status":{"observedGeneration":7}}\ndeployment.apps/web edited\n'
    assert get_json(plane, ns, "deployment/web")["status"]["observedGeneration"] == 7
