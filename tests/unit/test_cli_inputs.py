"""skiffctl on odd command lines and files: a kubectl-shaped error line, never a traceback.

These run ``main`` in-process and reach no server (SKIFF_SERVER points at a closed port): each
case fails before any request is made.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from skiff.api import kinds
from tests.support.cli import skiffctl


@pytest.fixture(autouse=True)
def _no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKIFF_SERVER", "127.0.0.1:1")
    monkeypatch.delenv("SKIFF_CONFIG", raising=False)


@pytest.mark.parametrize(("text", "why"), [
    ("garbage: [\n", "yaml: line 2: expected the node content, but found '<stream end>'"),
    ("- 1\n", "expected a mapping, got list"),
    ("contexts: [1]\n", "contexts: expected a list of {name, context} mappings"),
    ("contexts:\n- name: a\n  context: x\n", "contexts[].context: expected a mapping"),
])
@pytest.mark.parametrize("verb", [["get", "pods"], ["config", "view"], ["config", "get-contexts"]])
def test_a_config_file_that_cannot_be_read_is_named_with_why(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, why: str, verb: list[str]) -> None:
    config = tmp_path / "config"
    config.write_text(text)
    code, out, err = skiffctl([*verb, "--config", str(config)], capsys)
    assert (code, out) == (1, "")
    assert err == f'error: error loading config file "{config}": {why}\n'


@pytest.mark.parametrize("args", [
    ["delete", "configmap", "cfg", "-l", "app=web"],
    ["label", "configmap", "cfg", "a=b", "-l", "app=web"],
    ["get", "configmap/cfg", "-l", "app=web"],
])
def test_a_name_beside_a_selector_is_refused_before_anything_is_done(
        capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    assert skiffctl(args, capsys) == (1, "", "error: name cannot be provided when a selector is specified\n")


@pytest.mark.parametrize("args", [
    ["delete", "configmap/cfg", "--all"],
    ["label", "configmap/cfg", "a=b", "--all"],
])
def test_a_resource_name_beside_all_is_refused_as_kubectl_refuses_it(
        capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    assert skiffctl(args, capsys) == (
        1, "", "error: selectors and the all flag cannot be used when passing resource/name arguments\n")


@pytest.mark.parametrize("verb", ["delete", "edit", "get", "describe"])
def test_resource_arguments_beside_a_file_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], verb: str) -> None:
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\n")
    assert skiffctl([verb, "configmap", "cfg", "-f", str(tmp_path / "cm.yaml")], capsys) == (
        1, "", "error: when paths, URLs, or stdin is provided as input, you may not specify resource arguments "
               "as well\n")


@pytest.mark.parametrize("verb", ["apply", "create", "replace", "delete", "scale"])
def test_a_file_without_objects_names_the_verb(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], verb: str) -> None:
    (tmp_path / "empty.yaml").write_text("---\n---\n")
    extra = ["--replicas=1"] if verb == "scale" else []
    assert skiffctl([verb, "-f", str(tmp_path / "empty.yaml"), *extra], capsys) == (
        1, "", f"error: no objects passed to {verb}\n")


@pytest.mark.parametrize("dry_run", [[], ["--dry-run=client"]])
@pytest.mark.parametrize("verb", ["apply", "create", "replace"])
def test_a_manifest_namespace_unlike_n_is_a_client_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], verb: str, dry_run: list[str]) -> None:
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: other}\n")
    assert skiffctl([verb, "-n", "default", "-f", str(tmp_path / "cm.yaml"), *dry_run], capsys) == (
        1, "", 'error: the namespace from the provided object "other" does not match the namespace "default". '
               "You must pass '--namespace=other' to perform this operation.\n")


@pytest.mark.parametrize(("args", "message"), [
    (["delete", "configmap", "cfg", "-A"], "error: a resource cannot be retrieved by name across all namespaces"),
    (["delete", "configmaps", "--all", "-l", "app=web"], "error: cannot set --all and --selector at the same time"),
])
def test_delete_refuses_what_kubectl_refuses(
        capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    assert skiffctl(args, capsys) == (1, "", message + "\n")


ENV_NAME_RULE = ("a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', "
                 "and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex "
                 "used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')")


@pytest.mark.parametrize(("pair", "message"), [
    ("1BAD=x", f'error: "1BAD" is not a valid key name: {ENV_NAME_RULE}'),
    ("A B=x", f'error: "A B" is not a valid key name: {ENV_NAME_RULE}'),
    ("..x=1", "error: \"..x\" is not a valid key name: must not start with '..'"),
])
def test_set_env_refuses_a_name_kubectl_refuses(
        capsys: pytest.CaptureFixture[str], pair: str, message: str) -> None:
    assert skiffctl(["set", "env", "deployment/web", pair], capsys) == (1, "", message + "\n")


@pytest.mark.parametrize(("typed", "resource"), [
    ("deployments.v1.apps", "deployments"), ("deploy.apps", "deployments"), ("rs.v1.apps", "replicasets"),
    ("leases.coordination.k8s.io", "leases"), ("leases.v1.coordination.k8s.io", "leases"),
    ("cronjob.v1.batch", "cronjobs"), ("DEPLOY", "deployments"),
])
def test_a_type_may_name_its_group_and_version_as_in_kubectl(typed: str, resource: str) -> None:
    assert kinds.lookup(typed).resource == resource


@pytest.mark.parametrize("typed", ["pods.v1", "deployments.apps.v1", "deployments.v2.apps", "pods.apps"])
def test_a_type_in_a_group_it_is_not_in_is_unknown(typed: str) -> None:
    with pytest.raises(kinds.UnknownKind):
        kinds.lookup(typed)
