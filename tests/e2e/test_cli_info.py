"""skiffctl's information and config verbs, run as a person runs them against apiserver processes.

``api-resources``, ``api-versions`` and ``version`` ask the server; ``explain`` reads the typed
schema; ``config ...`` edits the config file in the HOME the skiffctl process sees (each test
starts from no file at all), and a changed namespace is what a later ``get`` lists.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from tests.support.processes import ControlPlane


@pytest.fixture
def no_config(plane: ControlPlane) -> Iterator[None]:
    path = plane.home / ".skiff" / "config"
    path.unlink(missing_ok=True)
    yield
    path.unlink(missing_ok=True)


def _rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines()]


def test_api_resources(plane: ControlPlane) -> None:
    out = plane.ctl("api-resources").stdout
    rows = _rows(out)
    assert rows[0] == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    assert ["pods", "po", "v1", "true", "Pod"] in rows
    assert ["deployments", "deploy", "apps/v1", "true", "Deployment"] in rows
    assert ["secrets", "v1", "true", "Secret"] in rows  # no short name: an empty column
    assert ["nodes", "no", "v1", "false", "Node"] in rows
    names = [r[0] for r in rows[1:]]
    assert names.index("pods") < names.index("deployments")  # the core group first
    header = out.splitlines()[0]
    assert header.index("SHORTNAMES") > header.index("NAME") + len("persistentvolumeclaims")  # aligned


def test_api_resources_filters_and_wide(plane: ControlPlane) -> None:
    cluster_wide = [r[0] for r in _rows(plane.ctl("api-resources", "--namespaced=false").stdout)[1:]]
    assert sorted(cluster_wide) == ["namespaces", "nodes"]
    namespaced = [r[0] for r in _rows(plane.ctl("api-resources", "--namespaced=true").stdout)[1:]]
    assert "pods" in namespaced and "nodes" not in namespaced
    wide = plane.ctl("api-resources", "-o", "wide").stdout
    assert wide.splitlines()[0].split()[-1] == "VERBS"
    pods_line = next(line for line in wide.splitlines() if line.startswith("pods "))
    assert pods_line.endswith("[create delete get list patch update watch]")
    assert "deployments.apps" in plane.ctl("api-resources", "-o", "name").stdout.split()
    r = plane.ctl("api-resources", "--namespaced=maybe", check=False)
    assert r.returncode == 1 and "invalid argument" in r.stderr


def test_api_versions(plane: ControlPlane) -> None:
    assert plane.ctl("api-versions").stdout.split() == ["apps/v1", "batch/v1", "coordination.k8s.io/v1", "v1"]


def test_version(plane: ControlPlane) -> None:
    lines = plane.ctl("version").stdout.splitlines()
    assert [line.split(": ")[0] for line in lines] == ["Client Version", "Server Version"]
    assert lines[0].startswith("Client Version: v") and lines[1].startswith("Server Version: v")
    client_only = plane.ctl("--server", "127.0.0.1:1", "version", "--client")
    assert client_only.stdout == lines[0] + "\n"
    as_yaml = yaml.safe_load(plane.ctl("version", "-o", "yaml").stdout)
    assert as_yaml["serverVersion"]["gitVersion"] == lines[1].split(": ")[1]


def test_version_with_no_server_prints_the_client_then_fails(plane: ControlPlane) -> None:
    r = plane.ctl("--server", "127.0.0.1:1", "version", check=False)
    assert r.returncode == 1 and r.stdout.startswith("Client Version: ")
    assert "unable to connect to the server" in r.stderr


def test_explain(plane: ControlPlane) -> None:
    out = plane.ctl("explain", "pods").stdout
    assert out.startswith("KIND:       Pod\nVERSION:    v1\n")
    assert _rows(out.split("FIELDS:")[1]) == [["apiVersion", "<string>"], ["kind", "<string>"],
                                              ["metadata", "<ObjectMeta>"], ["spec", "<PodSpec>"],
                                              ["status", "<PodStatus>"]]
    containers = plane.ctl("explain", "pods.spec.containers").stdout
    assert "FIELD: containers <[]Container>" in containers
    assert ["image", "<string>"] in _rows(containers.split("FIELDS:")[1])
    replicas = plane.ctl("explain", "deploy.spec.replicas").stdout
    assert "GROUP:      apps" in replicas and "FIELD: replicas <integer>" in replicas
    assert "FIELD: labels <map[string]string>" in plane.ctl("explain", "pod.metadata.labels").stdout
    r = plane.ctl("explain", "pods.spec.nope", check=False)
    assert (r.returncode, r.stderr.strip()) == (1, 'error: field "nope" does not exist')


def test_config_contexts(plane: ControlPlane, no_config: None) -> None:
    r = plane.ctl("config", "current-context", check=False)
    assert (r.returncode, r.stderr.strip()) == (1, "error: current-context is not set")
    assert plane.ctl("config", "set-context", "skiff", f"--server={plane.server}").stdout == \
        'Context "skiff" created.\n'
    assert plane.ctl("config", "set-context", "other", "--server=10.0.0.1:6443", "--namespace=ops").stdout == \
        'Context "other" created.\n'
    assert plane.ctl("config", "use-context", "skiff").stdout == 'Switched to context "skiff".\n'
    assert plane.ctl("config", "current-context").stdout == "skiff\n"
    assert _rows(plane.ctl("config", "get-contexts").stdout) == [
        ["CURRENT", "NAME", "SERVER", "NAMESPACE"],
        ["other", "10.0.0.1:6443", "ops"],
        ["*", "skiff", plane.server, "default"]]
    assert plane.ctl("config", "get-contexts", "-o", "name").stdout == "other\nskiff\n"
    r = plane.ctl("config", "use-context", "nope", check=False)
    assert (r.returncode, r.stderr.strip()) == (1, 'error: no context exists with the name: "nope"')
    r = plane.ctl("config", "set-context", "--namespace=x", check=False)
    assert r.stderr.strip() == "error: you must specify a non-empty context name or --current"


def test_config_view(plane: ControlPlane, no_config: None) -> None:
    plane.ctl("config", "set-context", "skiff", f"--server={plane.server}", "--namespace=team")
    plane.ctl("config", "use-context", "skiff")
    view = yaml.safe_load(plane.ctl("config", "view").stdout)
    assert view["current-context"] == "skiff"
    assert view["contexts"] == [{"name": "skiff", "context": {"server": plane.server, "namespace": "team"}}]
    assert (plane.home / ".skiff" / "config").exists()


def test_set_context_current_namespace_is_what_get_lists(plane: ControlPlane, ns: str, no_config: None) -> None:
    plane.ctl("create", "-n", ns, "-f", "-", stdin="apiVersion: v1\nkind: Pod\nmetadata: {name: only-here}\n"
                                                   "spec: {containers: [{name: c, image: busybox}]}\n")
    plane.ctl("config", "set-context", "skiff", f"--server={plane.server}")
    plane.ctl("config", "use-context", "skiff")
    assert "only-here" not in plane.ctl("get", "pods").stdout
    assert plane.ctl("config", "set-context", "--current", f"--namespace={ns}").stdout == \
        'Context "skiff" modified.\n'
    assert _rows(plane.ctl("get", "pods").stdout)[1][0] == "only-here"
    assert "only-here" not in plane.ctl("get", "pods", "-n", "default").stdout  # -n still wins


def test_context_flag_picks_a_contexts_server_and_namespace(plane: ControlPlane, ns: str, no_config: None) -> None:
    plane.ctl("create", "-n", ns, "-f", "-", stdin="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: only-here}\n")
    plane.ctl("config", "set-context", "team", f"--server={plane.server}", f"--namespace={ns}")
    plane.ctl("config", "set-context", "dead", "--server=127.0.0.1:1")
    plane.ctl("config", "use-context", "team")
    assert _rows(plane.ctl("get", "configmaps", "-o", "name").stdout) == [["configmap/only-here"]]
    dead = plane.ctl("get", "configmaps", "--context", "dead", check=False)  # beats SKIFF_SERVER as well
    assert dead.returncode == 1 and "127.0.0.1:1" in dead.stderr
    plane.ctl("config", "use-context", "dead")
    assert _rows(plane.ctl("get", "configmaps", "--context=team", "-o", "name").stdout) == [["configmap/only-here"]]
    missing = plane.ctl("get", "configmaps", "--context", "nope", check=False)
    assert (missing.returncode, missing.stderr) == (1, "error: context was not found for specified context: nope\n")


def test_request_timeout_takes_kubectls_forms(plane: ControlPlane, ns: str) -> None:
    for value in ("5s", "1m", "7", "0"):
        assert plane.ctl("get", "pods", "-n", ns, f"--request-timeout={value}").returncode == 0
    bad = plane.ctl("get", "pods", "--request-timeout=soon", check=False)
    assert (bad.returncode, bad.stderr) == (1, "error: Invalid timeout value. Timeout must be a single integer in "
                                               "seconds, or an integer followed by a corresponding time unit "
                                               "(e.g. 1s | 2m | 3h)\n")
