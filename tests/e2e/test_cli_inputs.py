"""skiffctl against a real apiserver on inputs a kubectl user may type by mistake: kubectl's
messages, and nothing done that was not asked for."""

from __future__ import annotations

from tests.support.processes import ControlPlane


def config_map(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, labels: {{app: web}}}}\n"


def test_a_selector_the_server_refuses_names_what_was_listed(plane: ControlPlane, ns: str) -> None:
    out = plane.ctl("get", "pods", "-n", ns, "-l", "a in (b", check=False)
    assert out.returncode == 1
    assert out.stderr == ('Error from server (BadRequest): Unable to find "/v1, Resource=pods" that match label '
                          "selector \"a in (b\", field selector \"\": unable to parse requirement: found '', "
                          "expected: ',' or ')'\n")
    out = plane.ctl("get", "pods", "-n", ns, "--field-selector", "foo=bar", check=False)
    assert out.stderr.startswith('Error from server (BadRequest): Unable to find "/v1, Resource=pods" that match '
                                 'label selector "", field selector "foo=bar": field label not supported: foo')


def test_delete_of_a_name_with_a_selector_deletes_nothing(plane: ControlPlane, ns: str) -> None:
    plane.ctl("create", "-n", ns, "-f", "-", stdin=config_map("cfg"))
    out = plane.ctl("delete", "-n", ns, "configmap", "cfg", "-l", "app=other", check=False)
    assert (out.returncode, out.stderr) == (1, "error: name cannot be provided when a selector is specified\n")
    assert plane.ctl("get", "-n", ns, "configmap", "cfg", "-o", "name").stdout == "configmap/cfg\n"


def test_sort_by_a_field_no_row_has_is_an_error(plane: ControlPlane, ns: str) -> None:
    plane.ctl("create", "-n", ns, "-f", "-", stdin=config_map("a"))
    plane.ctl("create", "-n", ns, "-f", "-", stdin=config_map("b"))
    out = plane.ctl("get", "-n", ns, "configmaps", "--sort-by", ".spec.nope", check=False)
    assert (out.returncode, out.stdout) == (1, "")
    assert out.stderr == 'error: couldn\'t find any field with path "{.spec.nope}" in the list of objects\n'
    names = plane.ctl("get", "-n", ns, "configmaps", "--sort-by", "{.metadata.name}", "-o", "name").stdout
    assert names.splitlines() == ["configmap/a", "configmap/b"]


def test_delete_all_namespaces_with_a_selector(plane: ControlPlane, ns: str) -> None:
    other = plane.new_namespace()
    for where in (ns, other):
        plane.ctl("create", "-n", where, "-f", "-", stdin=config_map("cfg"))
        plane.ctl("label", "-n", where, "configmap", "cfg", f"sweep={ns}")
    out = plane.ctl("delete", "configmaps", "-A", "-l", f"sweep={ns}", "--wait=false")
    assert out.stdout == 'configmap "cfg" deleted\nconfigmap "cfg" deleted\n'
    assert plane.ctl("get", "configmaps", "-A", "-l", f"sweep={ns}").stderr == "No resources found\n"
