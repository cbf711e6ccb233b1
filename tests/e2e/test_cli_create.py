"""The generators against a real apiserver: ``create <kind>``, ``run``, ``expose`` as subprocesses.

Each generator creates a real object (read back with ``get -o json``); a client dry run's YAML,
written to a file and applied, creates the same Deployment and a second apply is ``unchanged``
(the kubectl workflow); ``--dry-run=server`` stores nothing; ``expose`` reads the selector and
ports from the stored object; errors read as kubectl's.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.processes import ControlPlane


def get_json(plane: ControlPlane, ns: str, *targets: str) -> Any:
    return json.loads(plane.ctl("get", *targets, "-n", ns, "-o", "json").stdout)


def test_each_generator_creates_its_object(plane: ControlPlane, ns: str, tmp_path: Path) -> None:
    (tmp_path / "app.conf").write_text("debug=true\n")
    commands = [
        (["create", "deployment", "web", "--image=nginx", "--replicas=2", "--port=80"], "deployment.apps/web created"),
        (["create", "service", "nodeport", "web", "--tcp=80:8080"], "service/web created"),
        (["create", "secret", "generic", "creds", "--from-literal=user=admin"], "secret/creds created"),
        (["create", "configmap", "cfg", f"--from-file={tmp_path / 'app.conf'}", "--from-literal=a=1"],
         "configmap/cfg created"),
        (["create", "cronjob", "tick", "--image=busybox", "--schedule=*/5 * * * *", "--", "date"],
         "cronjob.batch/tick created"),
        (["create", "job", "pi", "--image=perl", "--", "perl", "-e", "print 1"], "job.batch/pi created"),
        (["run", "bb", "--image=busybox", "--restart=Never", "--env=A=1", "--", "sleep", "10"], "pod/bb created"),
    ]
    for args, line in commands:  # -n goes first: after "--" it would be part of the command
        assert plane.ctl("-n", ns, *args).stdout == line + "\n"
    items = {(o["kind"], o["metadata"]["name"]): o
             for o in get_json(plane, ns, "deploy/web", "svc/web", "secret/creds", "cm/cfg", "cronjob/tick",
                               "job/pi", "pod/bb")["items"]}
    deploy = items[("Deployment", "web")]
    assert deploy["spec"]["replicas"] == 2
    assert deploy["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    svc = items[("Service", "web")]["spec"]
    assert svc["type"] == "NodePort" and svc["selector"] == {"app": "web"}
    assert svc["ports"][0]["targetPort"] == 8080 and 30000 <= svc["ports"][0]["nodePort"] <= 32767
    assert items[("Secret", "creds")]["data"] == {"user": "YWRtaW4="}
    assert items[("ConfigMap", "cfg")]["data"] == {"a": "1", "app.conf": "debug=true\n"}
    assert items[("CronJob", "tick")]["spec"]["schedule"] == "*/5 * * * *"
    assert items[("Job", "pi")]["spec"]["template"]["spec"]["containers"][0]["command"] == ["perl", "-e", "print 1"]
    pod = items[("Pod", "bb")]
    assert pod["metadata"]["labels"] == {"run": "bb"} and pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["containers"][0]["args"] == ["sleep", "10"]
    assert pod["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]


def test_create_namespace_and_output_yaml(plane: ControlPlane, ns: str) -> None:
    name = f"{ns}-extra"
    assert plane.ctl("create", "namespace", name).stdout == f"namespace/{name} created\n"
    assert plane.ctl("get", "namespace", name, "-o", "name").stdout == f"namespace/{name}\n"
    created = yaml.safe_load(plane.ctl("create", "configmap", "c", "--from-literal=k=v", "-n", ns, "-o", "yaml").stdout)
    assert created["metadata"]["uid"] and created["metadata"]["creationTimestamp"]
    assert created["metadata"]["namespace"] == ns and created["data"] == {"k": "v"}
    plane.ctl("delete", "namespace", name)
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-file\n"
    assert plane.ctl("create", "-f", "-", "-n", ns, stdin=manifest).stdout == "configmap/from-file created\n"


def test_client_dry_run_yaml_then_apply(plane: ControlPlane, ns: str, tmp_path: Path) -> None:
    text = plane.ctl("create", "deployment", "web", "--image=nginx", "--dry-run=client", "-o", "yaml").stdout
    assert "creationTimestamp: null" in text and "strategy: {}" in text
    assert plane.ctl("get", "deployments", "-n", ns).stderr.strip() == f"No resources found in {ns} namespace."
    manifest = tmp_path / "web.yaml"
    manifest.write_text(text)
    assert plane.ctl("apply", "-f", str(manifest), "-n", ns).stdout == "deployment.apps/web created\n"
    live = get_json(plane, ns, "deployment", "web")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx"
    assert live["spec"]["selector"] == {"matchLabels": {"app": "web"}}


def test_reapplying_a_generated_manifest_is_unchanged(plane: ControlPlane, ns: str, tmp_path: Path) -> None:
    manifest = tmp_path / "web.yaml"
    manifest.write_text(plane.ctl("create", "deployment", "web", "--image=nginx", "--dry-run=client", "-o",
                                  "yaml").stdout)
    plane.ctl("apply", "-f", str(manifest), "-n", ns)
    assert plane.ctl("apply", "-f", str(manifest), "-n", ns).stdout == "deployment.apps/web unchanged\n"


def test_server_dry_run_stores_nothing(plane: ControlPlane, ns: str) -> None:
    r = plane.ctl("create", "deployment", "web", "--image=nginx", "--dry-run=server", "-n", ns)
    assert r.stdout == "deployment.apps/web created (server dry run)\n"
    out = yaml.safe_load(plane.ctl("run", "p", "--image=nginx", "--dry-run=server", "-o", "yaml", "-n", ns).stdout)
    assert out["metadata"]["name"] == "p" and out["metadata"]["namespace"] == ns
    missing = plane.ctl("get", "deployment", "web", "-n", ns, check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip().endswith('Error from server (NotFound): deployments.apps "web" not found')
    assert plane.ctl("get", "pods", "-n", ns).stderr.strip() == f"No resources found in {ns} namespace."


def test_expose_reads_selector_and_ports_from_the_object(plane: ControlPlane, ns: str) -> None:
    plane.ctl("create", "deployment", "web", "--image=nginx", "--port=80", "-n", ns)
    assert plane.ctl("expose", "deployment", "web", "--target-port=8080", "-n", ns).stdout == "service/web exposed\n"
    svc = get_json(plane, ns, "service", "web")
    assert svc["spec"]["selector"] == {"app": "web"} and svc["metadata"]["labels"] == {"app": "web"}
    assert svc["spec"]["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 8080}]
    assert svc["spec"]["clusterIP"]

    plane.ctl("run", "bb", "--image=busybox", "--labels=app=bb", "--port=9000", "-n", ns)
    dry = plane.ctl("expose", "pod/bb", "--name=bb-svc", "--type=NodePort", "--dry-run=client", "-o", "yaml", "-n", ns)
    doc = yaml.safe_load(dry.stdout)
    assert doc["metadata"] == {"creationTimestamp": None, "labels": {"app": "bb"}, "name": "bb-svc", "namespace": ns}
    assert doc["spec"] == {"ports": [{"port": 9000, "protocol": "TCP", "targetPort": 9000}],
                           "selector": {"app": "bb"}, "type": "NodePort"}
    assert plane.ctl("expose", "service", "web", "--name=web-lb", "--type=LoadBalancer", "-n", ns).stdout == (
        "service/web-lb exposed\n")
    lb = get_json(plane, ns, "service", "web-lb")
    assert lb["spec"]["type"] == "LoadBalancer" and lb["spec"]["selector"] == {"app": "web"}


def test_create_job_from_cronjob(plane: ControlPlane, ns: str) -> None:
    plane.ctl("create", "cronjob", "tick", "--image=busybox", "--schedule=0 * * * *", "-n", ns)
    assert plane.ctl("create", "job", "tick-now", "--from=cronjob/tick", "-n", ns).stdout == (
        "job.batch/tick-now created\n")
    job = get_json(plane, ns, "job", "tick-now")
    cronjob = get_json(plane, ns, "cronjob", "tick")
    assert job["metadata"]["annotations"] == {"cronjob.kubernetes.io/instantiate": "manual"}
    [owner] = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("CronJob", "tick", cronjob["metadata"]["uid"])


def test_errors(plane: ControlPlane, ns: str) -> None:
    r = plane.ctl("create", "deployment", "web", "-n", ns, check=False)
    assert (r.returncode, r.stderr.strip()) == (1, 'error: required flag(s) "image" not set')
    plane.ctl("create", "secret", "generic", "s", "--from-literal=a=b", "-n", ns)
    r = plane.ctl("create", "secret", "generic", "s", "--from-literal=a=b", "-n", ns, check=False)
    assert (r.returncode, r.stderr.strip()) == (1, 'Error from server (AlreadyExists): secrets "s" already exists')
    r = plane.ctl("expose", "deployment", "nope", "--port=80", "-n", ns, check=False)
    assert (r.returncode, r.stderr.strip()) == (1, 'Error from server (NotFound): deployments.apps "nope" not found')
    r = plane.ctl("create", "job", "j", "--from=cronjob/nope", "-n", ns, check=False)
    assert (r.returncode, r.stderr.strip()) == (1, 'Error from server (NotFound): cronjobs.batch "nope" not found')
    assert "Traceback" not in r.stderr


def _openssl_pair(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate and its key, made now with openssl (none is kept in the repository)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not found")
    crt, key = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt),
                    "-subj", f"/CN={name}", "-days", "1"], check=True, capture_output=True, timeout=60)
    return crt, key


def test_create_secret_tls(plane: ControlPlane, ns: str, tmp_path: Path) -> None:
    crt, key = _openssl_pair(tmp_path, "web")
    other_crt, _ = _openssl_pair(tmp_path, "other")
    flags = [f"--cert={crt}", f"--key={key}", "-n", ns]
    assert plane.ctl("create", "secret", "tls", "web-tls", *flags).stdout == "secret/web-tls created\n"
    stored = get_json(plane, ns, "secret/web-tls")
    assert stored["type"] == "kubernetes.io/tls"
    assert {k: base64.b64decode(v) for k, v in stored["data"].items()} == {
        "tls.crt": crt.read_bytes(), "tls.key": key.read_bytes()}

    r = plane.ctl("create", "secret", "tls", "dry", *flags, "--dry-run=server", "-o", "yaml")
    assert yaml.safe_load(r.stdout)["metadata"]["namespace"] == ns
    assert plane.ctl("get", "secret", "dry", "-n", ns, check=False).returncode == 1
    hashed = plane.ctl("create", "secret", "tls", "web-tls", *flags, "--append-hash", "-o", "name").stdout.strip()
    assert hashed.startswith("secret/web-tls-") and len(hashed) == len("secret/web-tls-") + 10
    assert get_json(plane, ns, hashed)["data"] == stored["data"]

    r = plane.ctl("create", "secret", "tls", "bad", f"--cert={other_crt}", f"--key={key}", "-n", ns, check=False)
    assert (r.returncode, r.stderr.strip()) == (1, "error: tls: private key does not match public key")
    r = plane.ctl("create", "secret", "tls", "bad", f"--cert={crt}", "-n", ns, check=False)
    assert (r.returncode, r.stderr.strip()) == (1, "error: key and cert must be specified")
