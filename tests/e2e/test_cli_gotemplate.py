"""``skiffctl get -o go-template=...`` against real etcd + apiserver processes: the template runs on
the object's JSON (``-o json``'s dict) for one named object and on a ``kind: List`` otherwise, and
bad templates fail in kubectl 1.32's words (checked against the real kubectl)."""

from __future__ import annotations

from pathlib import Path

from tests.support.processes import ControlPlane

OBJECTS = """apiVersion: v1
kind: ConfigMap
metadata: {name: alpha, labels: {suite: gt}}
data: {greeting: aGVsbG8=, size: "2"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: beta, labels: {suite: gt}}
data: {greeting: d29ybGQ=}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: app, image: "nginx:1.27", ports: [{containerPort: 8080}]}]}
"""


def test_go_template_on_one_object_and_on_a_list(plane: ControlPlane, ns: str, tmp_path: Path) -> None:
    plane.ctl("apply", "-n", ns, "-f", "-", stdin=OBJECTS)
    one = plane.ctl("get", "cm", "alpha", "-n", ns, "-o",
                    'go-template={{.metadata.name}}: {{base64decode .data.greeting}} {{.data.nope}}')
    assert one.stdout == "alpha: hello <no value>"
    listed = plane.ctl("get", "cm", "-l", "suite=gt", "-n", ns, "-o",
                       'go-template={{.kind}}{{range $i, $cm := .items}}{{if $i}},{{end}} {{$cm.metadata.name}}='
                       '{{len $cm.data}}{{end}}{{"\\n"}}')
    assert listed.stdout == "List alpha=2, beta=1\n"
    numbers = plane.ctl("get", "deploy", "web", "-n", ns, "-o",
                        "template={{.spec.replicas}} {{with index .spec.template.spec.containers 0}}"
                        "{{(index .ports 0).containerPort}}{{end}} {{printf \"%T\" .spec.replicas}}")
    assert numbers.stdout == "3 8080 int64"
    template = tmp_path / "names.tmpl"
    template.write_text("{{range .items}}{{.metadata.name}}\n{{end}}")
    assert plane.ctl("get", "cm", "-l", "suite=gt", "-n", ns, "-o", f"go-template-file={template}").stdout == \
        "alpha\nbeta\n"
    implied = plane.ctl("get", "cm", "alpha", "-n", ns, "--template", "{{.metadata.name}}")  # -o go-template
    flagged = plane.ctl("get", "cm", "-l", "suite=gt", "-n", ns, "-o", "go-template-file", "--template", str(template))
    path = plane.ctl("get", "cm", "alpha", "-n", ns, "-o", "jsonpath", "--template", "{.metadata.name}")
    assert (implied.stdout, flagged.stdout, path.stdout) == ("alpha", "alpha\nbeta\n", "alpha")


def test_go_template_errors(plane: ControlPlane, ns: str) -> None:
    plane.ctl("apply", "-n", ns, "-f", "-", stdin=OBJECTS)
    bad = plane.ctl("get", "cm", "alpha", "-n", ns, "-o", "go-template={{.x, }}", check=False)
    assert (bad.returncode, bad.stdout, bad.stderr.strip()) == (
        1, "", 'error: error parsing template {{.x, }}, template: output:1: unexpected "," in operand')
    failing = plane.ctl("get", "cm", "alpha", "-n", ns, "-o", "go-template={{.metadata.name.first}}", check=False)
    assert (failing.returncode, failing.stderr.strip()) == (
        1, 'error: error executing template "{{.metadata.name.first}}": template: output:1:11: executing "output" '
           "at <.metadata.name.first>: can't evaluate field first in type interface {}")
    # stdout has kubectl's dump for debugging the template (what ran before the failure, here nothing)
    assert failing.stdout.startswith("Error executing template: template: output:1:11: ")
    assert "\ttemplate was:\n\t\t{{.metadata.name.first}}\n\traw data was:\n" in failing.stdout
    empty = plane.ctl("get", "cm", "alpha", "-n", ns, "-o", "go-template", check=False)
    assert (empty.returncode, empty.stderr.strip()) == (1, "error: template format specified but no template given")
