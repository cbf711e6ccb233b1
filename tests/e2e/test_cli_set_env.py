"""``skiffctl set env`` as a subprocess against a real apiserver, flag by flag as kubectl 1.32 has
them (``-e``, ``--from`` / ``--keys`` / ``--prefix``, ``--overwrite=false``, ``--list --resolve``,
``-l`` / ``--all``, ``-c``, ``--local``, ``--dry-run``, ``-o``): the lines and messages a person
sees, and what the API then holds (read back with ``get -o json``)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import skiffctl
from tests.support.plane_client import create
from tests.support.processes import ControlPlane
from tests.support.samples import sample


def deployment(name: str = "web", env: list[dict[str, Any]] | None = None, **labels: str) -> dict[str, Any]:
    """A Deployment with containers app (with ``env``) and sidecar, and an init container setup."""
    doc = sample("Deployment", name=name)
    spec = copy.deepcopy(doc["spec"]["template"]["spec"])
    if env:
        spec["containers"][0]["env"] = env
    spec["containers"].append({"name": "sidecar", "image": "busybox:1.36"})
    spec["initContainers"] = [{"name": "setup", "image": "busybox:1.36"}]
    doc["spec"]["template"]["spec"] = spec
    if labels:
        doc["metadata"]["labels"] = labels
    return doc


def stored(plane: ControlPlane, ns: str, what: str) -> dict[str, Any]:
    return json.loads(plane.ctl("get", what, "-n", ns, "-o", "json").stdout)  # type: ignore[no-any-return]


def envs(plane: ControlPlane, ns: str, what: str = "deploy/web") -> dict[str, list[dict[str, Any]]]:
    """Each container's env (init containers too), by container name."""
    spec = stored(plane, ns, what)["spec"]["template"]["spec"]
    return {c["name"]: c.get("env", []) for c in [*spec.get("initContainers", []), *spec["containers"]]}


def test_env_flag_and_pairs_keep_kubectl_order(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, deployment(env=[{"name": "A", "value": "1"}, {"name": "Z", "value": "z"}]))
    # -e comes before the positional pairs; a set variable keeps its place, new ones are appended,
    # and of a repeated name the first wins
    r = plane.ctl("set", "env", "deploy/web", "-c", "app", "-e", "B=2", "C=3", "A=9", "-e", "C=x", "A=10", "-n", ns)
    assert (r.stdout, r.stderr) == ("deployment.apps/web env updated\n", "")
    assert envs(plane, ns)["app"] == [{"name": "A", "value": "9"}, {"name": "Z", "value": "z"},
                                      {"name": "B", "value": "2"}, {"name": "C", "value": "x"}]
    r = plane.ctl("set", "env", "deploy/web", "--containers=app", "Z-", "B-", "--env=D=4", "-n", ns)
    assert r.stdout == "deployment.apps/web env updated\n"
    assert envs(plane, ns)["app"] == [{"name": "A", "value": "9"}, {"name": "C", "value": "x"},
                                      {"name": "D", "value": "4"}]
    # nothing to change, or nothing asked: no line, no error, as in kubectl
    assert plane.ctl("set", "env", "deploy/web", "-c", "app", "A=9", "-n", ns).stdout == ""
    assert plane.ctl("set", "env", "deploy/web", "-n", ns).stdout == ""


def test_env_reads_stdin_and_reports_bad_arguments(plane: ControlPlane, ns: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    create(plane, ns, deployment())
    r = plane.ctl("set", "env", "deploy/web", "-c", "sidecar", "-e", "-", "-n", ns,
                  stdin="X=1 # a comment\n#Y=2\nno-equals\nW==3\n")
    assert r.stdout == "deployment.apps/web env updated\n"
    assert envs(plane, ns)["sidecar"] == [{"name": "X", "value": "1 "}, {"name": "W", "value": "=3"}]
    for args, message in [
        (["deploy/web", "A=1", "A-"], "can not both modify and remove the same environment variable in the same "
                                      "command"),
        (["deploy/web", "-e", "FOO"], "unknown environment variable: FOO"),
        (["deploy/web", "A=1", "deploy/other"], "all resources must be specified before environment changes: "
                                                "deploy/web A=1 deploy/other"),
        (["deploy/web", "--keys=a"], "when specifying --keys, a configmap or secret must be provided with --from"),
        (["deploy/web", "--list", "-o", "yaml"], "--list and --output may not be specified together"),
        (["deploy", "--all", "-l", "a=b", "A=1"], "cannot set --all and --selector at the same time"),
        (["A=1"], "one or more resources must be specified as <resource> <name> or <resource>/<name>"),
        (["deploy/web", "--local", "--dry-run=server", "A=1"],
         "cannot specify --local and --dry-run=server - did you mean --dry-run=client?"),
    ]:
        result = skiffctl(["set", "env", *args, "-n", ns, "-s", plane.server], capsys)  # in-process: quicker
        assert result == (1, "", f"error: {message}\n"), args


def test_from_secret_and_configmap(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, deployment(),
           {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
            "stringData": {"DB_USER": "admin", "db.password": "s3cret"}},
           {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"},
            "data": {"LOG_LEVEL": "debug", "mode": "fast", "other": "x"}})
    r = plane.ctl("set", "env", "deploy/web", "-c", "app", "--from=secret/db", "-n", ns)
    assert r.stdout == "deployment.apps/web env updated\n"
    assert r.stderr == "Warning: key db.password transferred to DB_PASSWORD\n"
    assert envs(plane, ns)["app"] == [
        {"name": "DB_USER", "valueFrom": {"secretKeyRef": {"name": "db", "key": "DB_USER"}}},
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "db.password"}}}]
    # --keys picks keys, --prefix goes before every name set (the pairs' too)
    r = plane.ctl("set", "env", "deploy/web", "-c", "sidecar", "--from", "configmap/cfg", "--keys=LOG_LEVEL,mode",
                  "--prefix=APP_", "X=1", "-n", ns)
    assert (r.stdout, r.stderr) == ("deployment.apps/web env updated\n",
                                    "Warning: key mode transferred to MODE\n")
    assert envs(plane, ns)["sidecar"] == [
        {"name": "APP_X", "value": "1"},
        {"name": "APP_LOG_LEVEL", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "LOG_LEVEL"}}},
        {"name": "APP_MODE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "mode"}}}]
    r = plane.ctl("set", "env", "deploy/web", "--from=secret/nope", "-n", ns, check=False)
    assert (r.returncode, r.stdout, r.stderr) == (1, "", 'Error from server (NotFound): secrets "nope" not found\n')
    r = plane.ctl("set", "env", "deploy/web", "--from=deploy/web", "-n", ns, check=False)
    assert (r.returncode, r.stderr) == (1, "error: unsupported resource specified in --from\n")


def test_overwrite_false(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, deployment(env=[{"name": "A", "value": "1"}]))
    r = plane.ctl("set", "env", "deploy/web", "A=2", "--overwrite=false", "-n", ns, check=False)
    assert (r.returncode, r.stdout, r.stderr) == (
        1, "", "error: deployments/web 'A' already has a value (1), and --overwrite is false\n")
    assert envs(plane, ns)["app"] == [{"name": "A", "value": "1"}]
    # the same value, or a new name, is no overwrite; a bare --overwrite takes no argument
    r = plane.ctl("set", "env", "deploy/web", "A=1", "B=2", "--overwrite=false", "-c", "app", "-n", ns)
    assert r.stdout == "deployment.apps/web env updated\n"
    r = plane.ctl("set", "env", "deploy/web", "--overwrite", "A=3", "-c", "app", "-n", ns)
    assert r.stdout == "deployment.apps/web env updated\n"
    assert envs(plane, ns)["app"] == [{"name": "A", "value": "3"}, {"name": "B", "value": "2"}]


def test_list_and_resolve(plane: ControlPlane, ns: str) -> None:
    create(plane, ns,
           {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "stringData": {"pw": "s3cret"}},
           {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"level": "debug"}},
           deployment(env=[{"name": "A", "value": "1"},
                           {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
                           {"name": "LVL", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "level"}}},
                           {"name": "GONE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nope"}}},
                           {"name": "ME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]))
    listed = ("# Deployment web, container app\nA=1\n{refs}"
              "# Deployment web, container sidecar\n# Deployment web, container setup\n")
    r = plane.ctl("set", "env", "deploy/web", "--list", "-n", ns)
    assert (r.stdout, r.stderr) == (listed.format(refs="# PW from secret db, key pw\n# LVL from configmap cfg, "
                                                       "key level\n# GONE from configmap cfg, key nope\n"
                                                       "# ME from field path metadata.name\n"), "")
    r = plane.ctl("set", "env", "deploy/web", "--list", "--resolve", "-n", ns)
    assert r.returncode == 0
    assert r.stdout == listed.format(refs="PW=s3cret\nLVL=debug\n# GONE from configmap cfg, key nope\nME=web\n")
    assert r.stderr == "error retrieving reference for GONE: key nope not found in config map cfg\n"
    # --list shows the changes asked and writes nothing; -c chooses the containers
    r = plane.ctl("set", "env", "deploy/web", "--list", "-c", "side*", "B=2", "-n", ns)
    assert r.stdout == "# Deployment web, container sidecar\nB=2\n"
    assert envs(plane, ns)["sidecar"] == []


def test_selector_all_and_containers(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, deployment("web", tier="front"), deployment("api", tier="back"),
           sample("Service", name="web"))
    r = plane.ctl("set", "env", "deploy", "-l", "tier=front", "A=1", "-c", "sidecar", "-n", ns)
    assert r.stdout == "deployment.apps/web env updated\n"
    assert envs(plane, ns, "deploy/api")["sidecar"] == []
    r = plane.ctl("set", "env", "deployments", "--all", "A=1", "-c", "setup", "-n", ns)
    assert r.stdout == "deployment.apps/api env updated\ndeployment.apps/web env updated\n"
    assert envs(plane, ns) == {"setup": [{"name": "A", "value": "1"}], "app": [],
                               "sidecar": [{"name": "A", "value": "1"}]}
    # no container matches: kubectl's warning, not an error
    r = plane.ctl("set", "env", "deploy/web", "-c", "nope", "A=1", "-n", ns)
    assert (r.returncode, r.stdout, r.stderr) == (
        0, "", 'Warning: Deployment/web does not have any containers matching "nope"\n')
    r = plane.ctl("set", "env", "svc/web", "deploy/web", "B=1", "-c", "app", "-n", ns, check=False)
    assert (r.returncode, r.stdout, r.stderr) == (
        1, "deployment.apps/web env updated\n",
        "error: services/web the object is not a pod or does not have a pod template: *v1.Service\n")


def test_dry_run_and_output(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, deployment())
    before = stored(plane, ns, "deploy/web")
    for flag, line in [("--dry-run=client", "deployment.apps/web env updated (dry run)\n"),
                       ("--dry-run=server", "deployment.apps/web env updated (server dry run)\n")]:
        assert plane.ctl("set", "env", "deploy/web", "A=1", flag, "-n", ns).stdout == line
    assert stored(plane, ns, "deploy/web") == before
    out = plane.ctl("set", "env", "deploy/web", "A=1", "-c", "app", "--dry-run=client", "-o", "yaml", "-n", ns).stdout
    assert yaml.safe_load(out)["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]
    assert stored(plane, ns, "deploy/web") == before
    assert plane.ctl("set", "env", "deploy/web", "A=1", "-o", "name", "-n", ns).stdout == "deployment.apps/web\n"
    out = plane.ctl("set", "env", "deploy/web", "B=2", "-c", "app", "-o", "json", "-n", ns).stdout
    assert json.loads(out)["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert envs(plane, ns)["app"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]


def test_local_changes_only_the_file_objects(plane: ControlPlane, ns: str, tmp_path: Path) -> None:
    create(plane, ns, deployment())
    doc = deployment(env=[{"name": "A", "value": "1"}])
    path = tmp_path / "web.yaml"
    path.write_text(yaml.safe_dump(doc))
    r = plane.ctl("set", "env", "--local", "-f", str(path), "B=2", "-n", ns)
    assert (r.stdout, r.stderr) == ("deployment.apps/web env updated\n", "")
    out = plane.ctl("set", "env", "--local", "-f", str(path), "B=2", "-c", "app", "-o", "yaml", "-n", ns).stdout
    assert yaml.safe_load(out)["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    r = plane.ctl("set", "env", "--local", "-f", str(path), "A=2", "--overwrite=false", "-n", ns, check=False)
    assert (r.returncode, r.stderr) == (
        1, "error: deployment.apps/web\n 'A' already has a value (1), and --overwrite is false\n")
    r = plane.ctl("set", "env", "--local", "deploy/web", "A=2", "-n", ns, check=False)
    assert r.returncode == 1 and r.stderr.startswith("error: You must provide one or more resources by argument "
                                                     "or filename.\n")
    assert envs(plane, ns)["app"] == []  # the server's object is untouched
