"""Jobs as a person runs them: etcd, the apiserver, the scheduler, the controller-manager and
``skiff kubelet --runtime process`` as processes (tests/support/node.py), driven through skiffctl.

A Job runs its pods to completion (``wait --for=condition=complete``, kubectl's columns, the
pods' logs); an Indexed Job's pods see their index; a Job whose pod fails past ``backoffLimit``
or runs past ``activeDeadlineSeconds`` fails with Kubernetes' reason; deleting a running Job
takes its pods away (their tracking finalizer is removed, nothing is left terminating).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.support.node import Node, node_with_controllers

TRACKING = "batch.kubernetes.io/job-tracking"


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    if shutil.which("etcd") is None:
        pytest.skip("etcd binary not found")
    with node_with_controllers("process") as n:
        yield n


@pytest.fixture
def ns(node: Node) -> str:
    return node.plane.new_namespace()


def _job(name: str, command: str, spec: str = "", restart: str = "Never") -> str:
    return f"""
apiVersion: batch/v1
kind: Job
metadata: {{name: {name}}}
spec:
  {spec or "completions: 1"}
  template:
    spec:
      restartPolicy: {restart}
      containers: [{{name: main, image: busybox, command: [sh, -c, {command!r}]}}]
"""


def _condition(node: Node, ns: str, name: str, kind: str) -> dict[str, str]:
    job = node.json("get", "job", name, "-n", ns)
    return next((c for c in job.get("status", {}).get("conditions", []) if c["type"] == kind), {})


def test_a_job_runs_its_completions_and_completes(node: Node, ns: str) -> None:
    node.apply(_job("pi", "echo computed by $(hostname)", "completions: 3\n  parallelism: 2"), ns)
    waited = node.ctl("wait", "--for=condition=complete", "job/pi", "-n", ns, "--timeout=60s", check=False)
    assert waited.returncode == 0, f"{waited.stderr}\n{node.diagnosis()}"
    assert waited.stdout == "job.batch/pi condition met\n"
    row = node.ctl("get", "job", "pi", "-n", ns, "--no-headers").stdout.split()
    assert row[:3] == ["pi", "Complete", "3/3"]
    status = node.json("get", "job", "pi", "-n", ns)["status"]
    assert (status["succeeded"], status["ready"], status["terminating"]) == (3, 0, 0)
    assert status["uncountedTerminatedPods"] == {} and "active" not in status
    assert [c["type"] for c in status["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    assert {c["reason"] for c in status["conditions"]} == {"CompletionsReached"}
    assert status["completionTime"] >= status["startTime"]
    pods = node.json("get", "pods", "-l", "job-name=pi", "-n", ns)["items"]
    assert len(pods) == 3
    assert all(p["status"]["phase"] == "Succeeded" for p in pods)
    assert not any(TRACKING in p["metadata"].get("finalizers", []) for p in pods)  # counted, then released
    logs = node.ctl("logs", "job/pi", "-n", ns)
    assert logs.stdout.startswith("computed by pi-")
    events = node.ctl("events", "--for", "job/pi", "-n", ns).stdout
    assert events.count("SuccessfulCreate") == 3 and "Job completed" in events


def test_an_indexed_job_gives_each_pod_its_index(node: Node, ns: str) -> None:
    node.apply(_job("idx", "echo index=$JOB_COMPLETION_INDEX host=$(hostname)",
                    "completions: 3\n  parallelism: 3\n  completionMode: Indexed"), ns)
    node.ctl("wait", "--for=condition=complete", "job/idx", "-n", ns, "--timeout=60s")
    assert node.json("get", "job", "idx", "-n", ns)["status"]["completedIndexes"] == "0-2"
    pods = node.json("get", "pods", "-l", "job-name=idx", "-n", ns)["items"]
    seen = {}
    for pod in pods:
        index = pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
        assert pod["metadata"]["name"].startswith(f"idx-{index}-")
        seen[index] = node.ctl("logs", pod["metadata"]["name"], "-n", ns).stdout
    assert seen == {str(i): f"index={i} host=idx-{i}\n" for i in range(3)}


def test_a_failing_pod_fails_the_job_past_its_backoff_limit(node: Node, ns: str) -> None:
    node.apply(_job("boom", "exit 3", "backoffLimit: 0"), ns)
    waited = node.ctl("wait", "--for=condition=failed", "job/boom", "-n", ns, "--timeout=60s", check=False)
    assert waited.returncode == 0, f"{waited.stderr}\n{node.diagnosis()}"
    failed = _condition(node, ns, "boom", "Failed")
    assert (failed["reason"], failed["message"]) == (
        "BackoffLimitExceeded", "Job has reached the specified backoff limit")
    assert node.ctl("get", "job", "boom", "-n", ns, "--no-headers").stdout.split()[:3] == ["boom", "Failed", "0/1"]
    assert node.json("get", "job", "boom", "-n", ns)["status"]["failed"] == 1
    assert "BackoffLimitExceeded" in node.ctl("events", "--for", "job/boom", "-n", ns).stdout


def test_a_job_past_its_deadline_fails_and_its_pods_stop(node: Node, ns: str) -> None:
    node.apply(_job("slow", "sleep 300", "activeDeadlineSeconds: 2"), ns)
    node.ctl("wait", "--for=condition=failed", "job/slow", "-n", ns, "--timeout=60s")
    failed = _condition(node, ns, "slow", "Failed")
    assert (failed["reason"], failed["message"]) == (
        "DeadlineExceeded", "Job was active longer than specified deadline")
    node.wait(lambda: all(p["status"]["phase"] in ("Failed", "Succeeded") or p["metadata"].get("deletionTimestamp")
                          for p in node.json("get", "pods", "-l", "job-name=slow", "-n", ns)["items"]),
              "the job's pod to be stopped")
    assert node.json("get", "job", "slow", "-n", ns)["status"]["failed"] == 1


def test_deleting_a_running_job_removes_its_pods(node: Node, ns: str) -> None:
    node.apply(_job("long", "sleep 300"), ns)
    node.wait(lambda: [p["status"].get("phase") for p in node.json("get", "pods", "-l", "job-name=long", "-n",
                                                                  ns)["items"]] == ["Running"],
              "the job's pod to run")
    pod = node.json("get", "pods", "-l", "job-name=long", "-n", ns)["items"][0]
    assert pod["metadata"]["finalizers"] == [TRACKING]
    assert node.ctl("delete", "job", "long", "-n", ns).stdout == 'job.batch "long" deleted\n'
    node.wait(lambda: node.json("get", "pods", "-l", "job-name=long", "-n", ns).get("items") == [],
              "the job's pods to be gone", timeout=60)
