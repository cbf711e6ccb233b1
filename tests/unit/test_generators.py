"""skiffctl's generators against the real kubectl's output, field by field.

``tests/data/kubectl/README.md`` lists each captured (or, for ``run``, source-derived) output and
the exact kubectl command behind it; these tests read that table, run the same command through
skiffctl's ``main`` (``--dry-run=client``, so no server is involved) from that folder, and compare
the parsed documents path by path, so a difference names the field. The generator functions are
also checked directly: expose's Service for each kind of object, job --from=cronjob, and the
flag errors worded as kubectl words them.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from skiff.api.manifest import from_manifest
from skiff.api.v1 import apps_pb2, batch_pb2, core_pb2
from skiff.cli import generators
from skiff.cli.main import main
from tests.support.cli import skiffctl

DATA = Path(__file__).resolve().parent.parent / "data" / "kubectl"
_ROW = re.compile(r"^\| `(?P<file>[^`]+)` \| `kubectl (?P<cmd>[^`]+)` \| (?P<source>captured|derived) \|$")


def _rows() -> list[tuple[str, list[str]]]:
    rows = []
    for line in (DATA / "README.md").read_text().splitlines():
        m = _ROW.match(line)
        if m:
            rows.append((m["file"], shlex.split(m["cmd"])))
    return rows


ROWS = _rows()


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Every path where two parsed documents differ, with both values."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out: list[str] = []
        for key in sorted(set(expected) | set(actual)):
            sub = f"{path}.{key}" if path else key
            if key not in actual:
                out.append(f"{sub}: missing (kubectl: {expected[key]!r})")
            elif key not in expected:
                out.append(f"{sub}: extra {actual[key]!r}")
            else:
                out.extend(differences(expected[key], actual[key], sub))
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{path}: {len(actual)} items, kubectl has {len(expected)}"]
        return [d for i, (e, a) in enumerate(zip(expected, actual, strict=True))
                for d in differences(e, a, f"{path}[{i}]")]
    return [] if expected == actual and type(expected) is type(actual) else [
        f"{path}: {actual!r}, kubectl: {expected!r}"]


@pytest.fixture(autouse=True)
def _in_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(DATA)
    monkeypatch.setenv("SKIFF_SERVER", "127.0.0.1:1")  # never contacted: every command is a client dry run


def test_the_table_lists_every_data_file() -> None:
    listed = {f for f, _ in ROWS}
    on_disk = {p.name for p in DATA.iterdir() if p.suffix in (".yaml", ".json")} - {"expose.yaml"}
    assert listed == on_disk
    assert len(ROWS) >= 20


@pytest.mark.parametrize(("filename", "args"), ROWS, ids=[f for f, _ in ROWS])
def test_same_document_as_kubectl(filename: str, args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = skiffctl(args, capsys)
    assert code == 0, err
    expected = yaml.safe_load((DATA / filename).read_text())
    actual = json.loads(out) if filename.endswith(".json") else yaml.safe_load(out)
    assert differences(expected, actual) == []


def test_yaml_text_matches_kubectl_but_for_quoting() -> None:
    """Beyond structure: same key order and layout; only the quote style of strings like "3600" differs
    (PyYAML writes '3600', go-yaml "3600")."""
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main(["create", "deployment", "web", "--image=nginx", "--replicas=3", "--port=80",
                     "--dry-run=client", "-o", "yaml"]) == 0
    assert buf.getvalue() == (DATA / "create-deployment.yaml").read_text()


def test_generated_yaml_loads_back_as_the_same_object(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = skiffctl(["create", "deployment", "web", "--image=nginx", "--dry-run=client", "-o", "yaml"],
                            capsys)
    assert code == 0
    obj = from_manifest(yaml.safe_load(out))
    assert obj == generators.deployment("web", images=["nginx"])


def test_namespace_is_written_only_when_given(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = skiffctl(["create", "deploy", "web", "--image=nginx", "-n", "team", "--dry-run=client", "-o",
                          "yaml"], capsys)
    doc = yaml.safe_load(out)
    assert doc["metadata"]["namespace"] == "team"
    assert "namespace" not in doc["spec"]["template"]["metadata"]


@pytest.mark.parametrize(("args", "message"), [
    (["create", "deployment", "web"], 'error: required flag(s) "image" not set'),
    (["create", "deployment", "--image=nginx"], "error: exactly one NAME is required, got 0"),
    (["create", "cronjob", "tick"], 'error: required flag(s) "image", "schedule" not set'),
    (["create", "job", "pi"], "error: either --image or --from must be specified"),
    (["create", "job", "pi", "--from=cronjob/a", "--", "x"], "error: cannot specify --from and command"),
    (["create", "service", "clusterip", "web"], "error: at least one tcp port specifier must be provided"),
    (["create", "service", "clusterip", "web", "--tcp=abc:80"],
     'error: strconv.ParseUint: parsing "abc": invalid syntax'),
    (["create", "service", "externalname", "web"], 'error: required flag(s) "external-name" not set'),
    (["create", "secret", "generic", "s", "--from-literal=novalue"],
     "error: invalid literal source novalue, expected key=value"),
    (["create", "secret", "generic", "s", "--from-literal=a=1", "--from-literal=a=2"],
     "error: cannot add key a, another key by that name already exists"),
    (["create", "configmap", "c", "--from-file=nonexist"], "error: error reading nonexist: no such file or directory"),
    (["create", "secret", "docker-registry", "reg"],
     "error: either --from-file or the combination of --docker-username, --docker-password and --docker-server "
     "is required"),
    (["run", "web"], 'error: required flag(s) "image" not set'),
    (["create", "configmap", "c", "--from-literal=a=1", "--from-literal=a=2"],
     'error: cannot add key "a", another key by that name already exists in Data for ConfigMap "c"'),
    (["create", "configmap", "c", "--from-literal=a=1", "--from-env-file=env"],
     "error: from-env-file cannot be combined with from-file or from-literal"),
    (["create", "secret", "generic", "s", "--from-file=a=x", "--from-env-file=env"],
     "error: from-env-file cannot be combined with from-file or from-literal"),
    (["run", "web", "--image=nginx", "--labels=app=web,tier"], "error: unexpected label spec: tier"),
    (["run", "web", "--image=nginx", "--labels=a=b=c"], "error: unexpected label spec: a=b=c"),
    (["run", "web", "--image=nginx", "--labels==b"], "error: unexpected empty label key"),
    (["run", "web", "--image=nginx", "--env=1BAD=x"], "error: invalid env: 1BAD=x"),
])
def test_errors_read_like_kubectl(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = skiffctl([*args, "--dry-run=client", "-o", "yaml"], capsys)
    assert code == 1
    assert out == ""
    assert err.strip() == message


def test_dry_run_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert skiffctl(["create", "namespace", "x", "--dry-run=client"], capsys)[1] == "namespace/x created (dry run)\n"
    assert skiffctl(["run", "web", "--image=nginx", "--dry-run=client", "-o", "name"], capsys)[1] == "pod/web\n"


def test_binary_file_goes_to_binary_data(tmp_path: Path) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"\xff\x00\xfe")
    cm = generators.configmap("c", sources=generators.DataSources(files=[f"b={blob}"], literals=["t=x"]))
    assert dict(cm.data) == {"t": "x"}
    assert dict(cm.binary_data) == {"b": b"\xff\x00\xfe"}


def test_directory_source_gives_one_key_per_file(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("A")
    (tmp_path / "b.conf").write_text("B")
    secret = generators.secret_generic("s", sources=generators.DataSources(files=[str(tmp_path)]))
    assert dict(secret.data) == {"a.conf": b"A", "b.conf": b"B"}


def test_docker_config_json_matches_kubectl() -> None:
    secret = generators.secret_docker_registry("reg", server="r.example.com", username="u", password="p")
    config = json.loads(secret.data[".dockerconfigjson"])
    assert config == {"auths": {"r.example.com": {"username": "u", "password": "p",
                                                  "auth": base64.b64encode(b"u:p").decode()}}}


# ---- expose ----


def _deployment_with_port() -> apps_pb2.Deployment:
    d = generators.deployment("web", images=["nginx"], port=80)
    return d


def test_expose_deployment_matches_the_derived_kubectl_output() -> None:
    svc = generators.expose(generators.exposable(_deployment_with_port()),
                            generators.ExposeOptions(port="80", target_port="8080"))
    expected = yaml.safe_load((DATA / "expose.yaml").read_text())
    assert differences(expected, generators.kubectl_manifest(svc)) == []


def test_expose_takes_every_container_port_and_names_them() -> None:
    pod = core_pb2.Pod()
    pod.metadata.name = "p"
    pod.metadata.labels["run"] = "p"
    for number, protocol in ((80, ""), (53, "UDP")):
        port = pod.spec.containers.add(name="c").ports.add(container_port=number)
        if protocol:
            port.protocol = protocol
    svc = generators.expose(generators.exposable(pod), generators.ExposeOptions(service_type="NodePort"))
    doc = generators.kubectl_manifest(svc)
    assert doc["spec"] == {
        "ports": [{"name": "port-1", "port": 80, "protocol": "TCP", "targetPort": 80},
                  {"name": "port-2", "port": 53, "protocol": "UDP", "targetPort": 53}],
        "selector": {"run": "p"}, "type": "NodePort"}


def test_expose_service_uses_its_selector_and_a_new_name() -> None:
    base = generators.service("web", service_type="ClusterIP", tcp=["80:8080"])
    svc = generators.expose(generators.exposable(base),
                            generators.ExposeOptions(name="web-lb", service_type="LoadBalancer"))
    assert svc.metadata.name == "web-lb"
    assert dict(svc.spec.selector) == {"app": "web"}
    assert [(p.port, p.target_port.int_val) for p in svc.spec.ports] == [(80, 80)]


def test_expose_errors() -> None:
    bare = core_pb2.Pod()
    bare.metadata.name = "p"
    with pytest.raises(generators.GeneratorError, match="couldn't retrieve selectors"):
        generators.expose(generators.exposable(bare), generators.ExposeOptions(port="80"))
    no_ports = generators.deployment("web", images=["nginx"])
    with pytest.raises(generators.GeneratorError, match="couldn't find port via --port flag or introspection"):
        generators.expose(generators.exposable(no_ports), generators.ExposeOptions())


def test_job_from_cronjob_is_owned_and_marked_manual() -> None:
    cj = generators.cronjob("tick", image="busybox", schedule="* * * * *")
    cj.metadata.uid = "uid-1"
    cj.spec.job_template.metadata.labels["team"] = "a"
    job = generators.job_from_cronjob("tick-manual", cj)
    assert isinstance(job, batch_pb2.Job)
    assert dict(job.metadata.annotations) == {"cronjob.kubernetes.io/instantiate": "manual"}
    assert dict(job.metadata.labels) == {"team": "a"}
    [owner] = job.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid, owner.controller) == ("CronJob", "tick", "uid-1", True)
    assert job.spec.template.spec.containers[0].image == "busybox"
    assert job.spec.template.spec.restart_policy == "OnFailure"


def test_save_config_stores_the_last_applied_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = skiffctl(["create", "namespace", "x", "--save-config", "--dry-run=client", "-o", "yaml"], capsys)
    annotation = yaml.safe_load(out)["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    assert json.loads(annotation) == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}, "spec": {}}


# ---- run --overrides / --override-type / --annotations / --privileged / --expose, against the
# real kubectl's output captured in tests/data/kubectl/run-captured/ (see its README) ----

CAPTURED = DATA / "run-captured"
_CAPTURED_ROW = re.compile(r"^\| `(?P<file>[^`]+)` \| `kubectl (?P<cmd>[^`]+)` \|$")
CAPTURED_ROWS = [(m["file"], shlex.split(m["cmd"])) for line in (CAPTURED / "README.md").read_text().splitlines()
                 if (m := _CAPTURED_ROW.match(line))]


def _go_yaml_quoting(text: str) -> str:
    """kubectl's text with go-yaml's quoting of "2"-like strings written as PyYAML writes them."""
    return re.sub(r'^(\s*(?:- )?[\w.-]+: )"(\d+)"$', r"\1'\2'", text, flags=re.M)


def test_the_captured_table_lists_every_captured_file() -> None:
    listed = {f for f, _ in CAPTURED_ROWS}
    assert listed == {p.name for p in CAPTURED.iterdir() if p.suffix in (".yaml", ".json", ".txt")}
    assert len(CAPTURED_ROWS) >= 15


@pytest.mark.parametrize(("filename", "args"), CAPTURED_ROWS, ids=[f for f, _ in CAPTURED_ROWS])
def test_run_flags_match_captured_kubectl(filename: str, args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = skiffctl(args, capsys)
    expected = (CAPTURED / filename).read_text()
    if filename.startswith("error-"):
        assert (code, out, err) == (1, "", expected.replace("kubectl run", "skiffctl run"))
        return
    assert code == 0, err
    if filename.endswith(".json"):
        decoder, docs, pos = json.JSONDecoder(), [], 0
        while pos < len(expected.strip()):
            doc, pos = decoder.raw_decode(expected, pos)
            docs.append(doc)
            pos += len(expected[pos:]) - len(expected[pos:].lstrip())
        assert [json.loads(d) for d in re.split(r"(?m)^(?=\{$)", out) if d] == docs
    else:
        assert out in (expected, _go_yaml_quoting(expected))


def test_run_overrides_strategic_merges_containers_by_name() -> None:
    options = generators.RunOptions(override_type="strategic", overrides=json.dumps(
        {"apiVersion": "v1", "spec": {"containers": [{"name": "web", "tty": True}]}}))
    pod = generators.pod("web", image="nginx", options=options)
    assert (pod.spec.containers[0].image, pod.spec.containers[0].tty) == ("nginx", True)


def test_run_overrides_merge_replaces_lists_and_null_deletes() -> None:
    options = generators.RunOptions(overrides=json.dumps(
        {"metadata": {"labels": None}, "spec": {"containers": [{"name": "web", "tty": True}]}}))
    doc = generators.kubectl_manifest(generators.pod("web", image="nginx", options=options))
    assert "labels" not in doc["metadata"]
    assert doc["spec"]["containers"] == [{"name": "web", "resources": {}, "tty": True}]


def test_run_overrides_keep_the_namespace_of_dash_n_and_drop_unknown_fields() -> None:
    options = generators.RunOptions(overrides='{"metadata":{"namespace":"x"},"spec":{"bogus":1}}')
    pod = generators.pod("web", image="nginx", options=options, namespace="team")
    assert pod.metadata.namespace == "team"


@pytest.mark.parametrize(("text", "override_type", "message"), [
    ("{bad", "merge", "Invalid JSON Patch"),
    ('"s"', "merge", "Invalid JSON Patch"),
    ("null", "merge", "Invalid JSON Patch"),
    ("[1]", "merge", 'couldn\'t get version/kind; json parse error: json: cannot unmarshal array into Go value of '
                     'type struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string '
                     '"json:\\"kind,omitempty\\"" }'),
    ("[1]", "strategic", "invalid JSON document"),
    ('"s"', "json", "json: cannot unmarshal string into Go value of type jsonpatch.Patch"),
    ("[1]", "json", "json: cannot unmarshal number into Go value of type jsonpatch.Operation"),
    ('{"a" 1}', "json", "invalid character '1' after object key"),
    ("[1 2]", "json", "invalid character '2' after array element"),
    ('{"a":1,}', "json", "invalid character '}' looking for beginning of object key string"),
    ("[tru]", "json", "invalid character ']' in literal true (expecting 'e')"),
    ("[1", "json", "unexpected end of JSON input"),
    ("{} x", "json", "invalid character 'x' after top-level value"),
    ("{}", "patch", "invalid override type: patch"),
])
def test_run_override_errors_read_like_kubectl(text: str, override_type: str, message: str) -> None:
    """Each message as kubectl v1.32.4 printed it for the same --overrides / --override-type."""
    with pytest.raises(generators.GeneratorError) as caught:
        generators.pod("web", image="nginx", options=generators.RunOptions(overrides=text, override_type=override_type))
    assert str(caught.value) == message


@pytest.mark.parametrize(("text", "override_type"), [("null", "strategic"), ("null", "json"), ("[]", "json"),
                                                     ('{"spec":{}}', "merge")])
def test_run_overrides_that_change_nothing(text: str, override_type: str) -> None:
    options = generators.RunOptions(overrides=text, override_type=override_type)
    assert generators.pod("web", image="nginx", options=options) == generators.pod("web", image="nginx")


@pytest.mark.parametrize(("args", "message"), [
    (["--port=+x"], 'error: strconv.Atoi: parsing "+x": invalid syntax'),
    (["--annotations==v"], "error: invalid annotations format: =v"),
    (["--privileged=maybe"], None),
])
def test_run_flag_errors(args: list[str], message: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code, _, err = skiffctl(["run", "web", "--image=nginx", *args, "--dry-run=client"], capsys)
    except SystemExit as exc:  # argparse's own error for a bad bool
        code, err = int(exc.code or 0), capsys.readouterr().err
    assert code != 0
    if message:
        assert err == message + "\n"
