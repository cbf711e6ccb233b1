"""``skiffctl set resources``, ``set selector``, ``set serviceaccount`` and ``set subject`` as a
subprocess against a real apiserver: what a person sees (kubectl's lines and messages) and what
the API then holds."""

from __future__ import annotations

import copy
from typing import Any

from skiff.api.quantity import ERR_FORMAT_WRONG
from tests.support.plane_client import create, get_json
from tests.support.processes import ControlPlane
from tests.support.samples import sample


def two_container_deployment(name: str = "web") -> dict[str, Any]:
    doc = sample("Deployment", name=name)
    spec = copy.deepcopy(doc["spec"]["template"]["spec"])
    spec["containers"].append({"name": "sidecar", "image": "busybox:1.36"})
    spec["initContainers"] = [{"name": "setup", "image": "busybox:1.36"}]
    doc["spec"]["template"]["spec"] = spec
    return doc


def container_resources(plane: ControlPlane, ns: str, what: str) -> dict[str, Any]:
    spec = get_json(plane, ns, what)["spec"]["template"]["spec"]
    return {c["name"]: c.get("resources", {}) for c in [*spec.get("initContainers", []), *spec["containers"]]}


# ---- set resources ----

def test_set_resources_all_containers_then_unchanged(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, two_container_deployment())
    r = plane.ctl("set", "resources", "deployment", "web", "--limits=cpu=200m,memory=512Mi",
                  "--requests=cpu=0.1,memory=256Mi", "-n", ns)
    assert r.stdout == "deployment.apps/web resource requirements updated\n"
    wanted = {"limits": {"cpu": "200m", "memory": "512Mi"}, "requests": {"cpu": "100m", "memory": "256Mi"}}
    assert container_resources(plane, ns, "deploy/web") == {"setup": wanted, "app": wanted, "sidecar": wanted}
    again = plane.ctl("set", "resources", "deploy/web", "--limits=cpu=0.2", "-n", ns)
    assert again.stdout == "" and again.returncode == 0  # nothing changed: kubectl prints nothing


def test_set_resources_containers_glob(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, two_container_deployment())
    out = plane.ctl("set", "resources", "deploy/web", "-c", "side*", "--limits=cpu=1", "-n", ns).stdout
    assert out == "deployment.apps/web resource requirements updated\n"
    # the apiserver defaults a missing request to its limit, as Kubernetes does
    assert container_resources(plane, ns, "deploy/web") == {
        "setup": {}, "app": {}, "sidecar": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}}
    r = plane.ctl("set", "resources", "deploy/web", "-c=nope", "--limits=cpu=1", "-n", ns, check=False)
    assert (r.returncode, r.stdout, r.stderr) == (1, "", "error: unable to find container named nope\n")


def test_set_resources_refusals(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, sample("Deployment", name="web"), sample("Service", name="web"))
    r = plane.ctl("set", "resources", "deploy/web", "--limits=cpu=lots", "-n", ns, check=False)
    assert (r.returncode, r.stderr) == (1, f"error: {ERR_FORMAT_WRONG}\n")
    r = plane.ctl("set", "resources", "deploy/web", "-n", ns, check=False)
    assert r.stderr == "error: you must specify an update to requests or limits (in the form of --requests/--limits)\n"
    r = plane.ctl("set", "resources", "deploy/web", "--limits=cpu", "-n", ns, check=False)
    assert r.stderr == "error: Invalid argument syntax cpu, expected <resource>=<value>\n"
    r = plane.ctl("set", "resources", "service/web", "--limits=cpu=1", "-n", ns, check=False)
    assert r.stderr == ("error: services/web the object is not a pod or does not have a pod template: "
                        "*v1.Service\n")
    # the server's refusal, wrapped as kubectl wraps a failed patch
    r = plane.ctl("set", "resources", "deploy/web", "--limits=cpu=1", "--requests=cpu=2", "-n", ns, check=False)
    assert r.returncode == 1
    assert r.stderr.startswith("error: failed to patch resources update to pod template ")
    assert "must be less than or equal to cpu limit of 1" in r.stderr
    assert "resources" not in get_json(plane, ns, "deploy/web")["spec"]["template"]["spec"]["containers"][0]


def test_set_resources_dry_run_and_output(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, sample("Deployment", name="web"))
    r = plane.ctl("set", "resources", "deploy/web", "--limits=memory=1Gi", "--dry-run=client", "-n", ns)
    assert r.stdout == "deployment.apps/web resource requirements updated (dry run)\n"
    r = plane.ctl("set", "resources", "deploy/web", "--limits=memory=1Gi", "--dry-run=server", "-n", ns)
    assert r.stdout == "deployment.apps/web resource requirements updated (server dry run)\n"
    assert container_resources(plane, ns, "deploy/web") == {"app": {}}
    r = plane.ctl("set", "resources", "deploy/web", "--limits=memory=1Gi", "-o", "name", "-n", ns)
    assert r.stdout == "deployment.apps/web\n"
    r = plane.ctl("set", "resources", "deploy/web", "--requests=memory=512Mi", "-o", "jsonpath={.kind}", "-n", ns)
    assert r.stdout.strip() == "Deployment"
    assert container_resources(plane, ns, "deploy/web") == {"app": {"limits": {"memory": "1Gi"},
                                                                    "requests": {"memory": "512Mi"}}}


def test_set_resources_by_selector(plane: ControlPlane, ns: str) -> None:
    other = sample("Deployment", name="other")
    other["metadata"]["labels"] = {"tier": "db"}
    create(plane, ns, sample("Deployment", name="web"), other)
    out = plane.ctl("set", "resources", "deployments", "-l", "tier=db", "--limits=cpu=1", "-n", ns).stdout
    assert out == "deployment.apps/other resource requirements updated\n"
    r = plane.ctl("set", "resources", "deployments", "--all", "-l", "tier=db", "--limits=cpu=1", "-n", ns,
                  check=False)
    assert r.stderr == "error: cannot set --all and --selector at the same time\n"


# ---- set selector ----

def test_set_selector_on_a_service(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, sample("Service", name="web"))
    assert plane.ctl("set", "selector", "service", "web", "app=web,tier=fe", "-n", ns).stdout == \
        "service/web selector updated\n"
    assert get_json(plane, ns, "svc/web")["spec"]["selector"] == {"app": "web", "tier": "fe"}
    assert plane.ctl("set", "selector", "svc/web", "app=web", "-n", ns).stdout == "service/web selector updated\n"
    assert get_json(plane, ns, "svc/web")["spec"]["selector"] == {"app": "web"}
    r = plane.ctl("set", "selector", "svc/web", "app in (a,b)", "-n", ns, check=False)
    assert r.stderr == "error: match expression [{app In [a b]}] not supported on this object\n"
    r = plane.ctl("set", "selector", "svc/web", "app!=a", "-n", ns, check=False)
    assert r.stderr == 'error: "!=" is not a valid label selector operator\n'


def test_set_selector_resource_version_and_other_kinds(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, sample("Service", name="web"), sample("Deployment", name="web"))
    rv = get_json(plane, ns, "svc/web")["metadata"]["resourceVersion"]
    plane.ctl("set", "selector", "svc/web", "app=one", f"--resource-version={rv}", "-n", ns)
    r = plane.ctl("set", "selector", "svc/web", "app=two", f"--resource-version={rv}", "-n", ns, check=False)
    assert r.returncode == 1
    assert r.stderr == ('Error from server (Conflict): Operation cannot be fulfilled on services "web": the object '
                        "has been modified; please apply your changes to the latest version and try again\n")
    assert get_json(plane, ns, "svc/web")["spec"]["selector"] == {"app": "one"}
    # kubectl sets selectors on Services only: a Deployment's is never sent (apps/v1 keeps it immutable)
    r = plane.ctl("set", "selector", "deploy/web", "app=other", "-n", ns, check=False)
    assert (r.returncode, r.stderr) == (1, "error: setting a selector is only supported for Services\n")
    assert get_json(plane, ns, "deploy/web")["spec"]["selector"] == {"matchLabels": {"app": "demo"}}


# ---- set serviceaccount ----

def test_set_serviceaccount(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, sample("Deployment", name="web"), sample("CronJob", name="nightly"),
           sample("ConfigMap", name="cm"))
    assert plane.ctl("set", "serviceaccount", "deployment", "web", "robot", "-n", ns).stdout == \
        "deployment.apps/web serviceaccount updated\n"
    assert get_json(plane, ns, "deploy/web")["spec"]["template"]["spec"]["serviceAccountName"] == "robot"
    # unchanged, it still says updated, as kubectl does
    assert plane.ctl("set", "sa", "deploy/web", "robot", "-n", ns).stdout == \
        "deployment.apps/web serviceaccount updated\n"
    assert plane.ctl("set", "sa", "cronjob/nightly", "robot", "--dry-run=client", "-n", ns).stdout == \
        "cronjob.batch/nightly serviceaccount updated (dry run)\n"
    job_spec = get_json(plane, ns, "cronjob/nightly")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert "serviceAccountName" not in job_spec
    r = plane.ctl("set", "sa", "configmap/cm", "robot", "-n", ns, check=False)
    assert r.stderr == ("error: configmaps/cm the object is not a pod or does not have a pod template: "
                        "*v1.ConfigMap\n")
    r = plane.ctl("set", "sa", "-n", ns, check=False)
    assert (r.returncode, r.stderr) == (1, "error: serviceaccount is required\n")
    r = plane.ctl("set", "sa", "deploy/missing", "robot", "-n", ns, check=False)
    assert r.stderr == 'Error from server (NotFound): deployments.apps "missing" not found\n'


# ---- set subject ----

def test_set_subject_says_there_is_no_rbac(plane: ControlPlane, ns: str) -> None:
    r = plane.ctl("set", "subject", "rolebinding", "admin", "--user=alice", "-n", ns, check=False)
    assert r.returncode == 1 and "skiff has no RBAC kinds yet" in r.stderr
