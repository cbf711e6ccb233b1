"""The describers on hand-built objects with a fixed clock: each test builds an object from a
manifest (plus whatever ``Related`` data the verb would have fetched) and checks the lines a
person reads, in kubectl's layout."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message

from skiff.api import codec
from skiff.api.manifest import from_manifest
from skiff.api.v1 import apps_pb2, core_pb2
from skiff.cli.describe import Related, align, describe

NOW = datetime(2026, 1, 10, 12, 0, 0, tzinfo=UTC)
T0 = "2026-01-10T11:00:00Z"


def obj(api_version: str, kind: str, name: str, *, namespace: str = "default", **body: Any) -> Any:
    meta = {"name": name, "uid": f"uid-{name}", "creationTimestamp": T0, **body.pop("metadata", {})}
    if namespace:
        meta["namespace"] = namespace
    return from_manifest({"apiVersion": api_version, "kind": kind, "metadata": meta, **body})


def event(reason: str, message: str, *, kind: str = "Pod", name: str = "web-1", count: int = 1,
          first: str = "2026-01-10T11:50:00Z", last: str = "2026-01-10T11:59:00Z", type_: str = "Normal") -> Any:
    return codec.from_dict(core_pb2.Event, {
        "metadata": {"name": f"{name}.{reason}", "namespace": "default"},
        "involvedObject": {"kind": kind, "name": name, "namespace": "default"},
        "reason": reason, "message": message, "type": type_, "count": count,
        "firstTimestamp": first, "lastTimestamp": last, "source": {"component": "kubelet"}})


def lines(o: Message, related: Related | None = None) -> list[str]:
    return describe(o, related, now=NOW).splitlines()


def test_align_pads_columns_over_runs_of_tabbed_lines() -> None:
    assert align(["Name:\tweb", "Namespace:\tdefault", "Containers:", "  a:\tb", "  long-name:\tc"]) == [
        "Name:       web", "Namespace:  default", "Containers:", "  a:          b", "  long-name:  c"]


POD: dict[str, Any] = {
    "spec": {
        "nodeName": "node-1",
        "containers": [{
            "name": "app", "image": "nginx:1.25", "ports": [{"containerPort": 80, "protocol": "TCP"}],
            "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "250m"}},
            "env": [{"name": "MODE", "value": "prod"},
                    {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 80}, "periodSeconds": 5},
        }],
        "volumes": [{"name": "data", "emptyDir": {}}],
        "nodeSelector": {"disktype": "ssd"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "batch", "effect": "NoSchedule"},
                        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                         "tolerationSeconds": 300}],
    },
    "status": {
        "phase": "Running", "hostIP": "10.0.0.5", "podIP": "10.244.1.7", "podIPs": [{"ip": "10.244.1.7"}],
        "startTime": T0,
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}],
        "containerStatuses": [{"name": "app", "ready": True, "restartCount": 2, "image": "nginx:1.25",
                               "containerID": "docker://abc",
                               "state": {"running": {"startedAt": "2026-01-10T11:01:00Z"}}}],
    },
}


def test_pod() -> None:
    pod = obj("v1", "Pod", "web-1", metadata={
        "labels": {"app": "web", "tier": "front"},
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "a"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d", "uid": "u",
                             "controller": True}]}, **POD)
    out = lines(pod, Related(events=[event("Pulled", "Pulled image", count=3), event("Scheduled", "Assigned",
                                                                                     last=T0)]))
    for expected in ["Name:             web-1", "Namespace:        default", "Node:             node-1/10.0.0.5",
                     "Start Time:       Sat, 10 Jan 2026 11:00:00 +0000", "Labels:           app=web",
                     "                  tier=front", "Annotations:      team: a", "Status:           Running",
                     "IP:               10.244.1.7", "IPs:", "  IP:           10.244.1.7",
                     "Controlled By:  ReplicaSet/web-5d", "Containers:", "  app:",
                     "    Container ID:   docker://abc", "    Port:           80/TCP", "    State:          Running",
                     "      Started:      Sat, 10 Jan 2026 11:01:00 +0000", "    Ready:          True",
                     "    Restart Count:  2", "      cpu:     500m", "      memory:  128Mi",
                     "    Liveness:  http-get http://:80/healthz delay=0s timeout=1s period=5s #success=1 #failure=3",
                     "      MODE:      prod",
                     "      PASSWORD:  <set to the key 'password' in secret 'db'>  Optional: false",
                     "      /data from data (rw)", "  Type          Status", "  Ready         True",
                     "    Type:        EmptyDir (a temporary directory that shares a pod's lifetime)",
                     "QoS Class:       Burstable", "Node-Selectors:  disktype=ssd",
                     "Tolerations:     dedicated=batch:NoSchedule",
                     "                 node.kubernetes.io/unreachable:NoExecute op=Exists for 300s",
                     "Events:", "  Type    Reason     Age                From     Message",
                     "  Normal  Scheduled  10m                kubelet  Assigned",
                     "  Normal  Pulled     60s (x3 over 10m)  kubelet  Pulled image"]:
        assert expected in out, expected
    assert not any("last-applied" in line for line in out)
    assert out.index("  Normal  Scheduled  10m                kubelet  Assigned") < out.index(
        "  Normal  Pulled     60s (x3 over 10m)  kubelet  Pulled image")  # oldest (by last seen) first


def test_pod_without_status_or_events() -> None:
    pod = obj("v1", "Pod", "p", spec={"containers": [{"name": "c", "image": "busybox"}]})
    out = lines(pod)
    assert "Node:             <none>" in out and "Labels:           <none>" in out
    assert "    Port:         <none>" in out and not any("State:" in line for line in out)
    assert out[-4:] == ["QoS Class:        BestEffort", "Node-Selectors:   <none>", "Tolerations:      <none>",
                        "Events:           <none>"]


DEPLOY_TEMPLATE: dict[str, Any] = {"metadata": {"labels": {"app": "web"}},
                                   "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}}


def rs(name: str, replicas: int, *, template: dict[str, Any], owner: str = "uid-web") -> apps_pb2.ReplicaSet:
    o: apps_pb2.ReplicaSet = obj("apps/v1", "ReplicaSet", name, metadata={"ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": owner, "controller": True}]},
        spec={"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": template},
        status={"replicas": replicas})
    return o


def test_deployment() -> None:
    d = obj("apps/v1", "Deployment", "web", spec={
        "replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": DEPLOY_TEMPLATE,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}}},
        status={"replicas": 4, "updatedReplicas": 3, "availableReplicas": 2, "unavailableReplicas": 2,
                "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}]})
    hashed = {"metadata": {"labels": {"app": "web", "pod-template-hash": "5d"}}, "spec": DEPLOY_TEMPLATE["spec"]}
    old_template = {"metadata": DEPLOY_TEMPLATE["metadata"],
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.24"}]}}
    related = Related(replica_sets=[rs("web-5d", 3, template=hashed), rs("web-4c", 1, template=old_template),
                                    rs("other", 1, template=hashed, owner="uid-other")])
    out = lines(d, related)
    assert "Replicas:               3 desired | 3 updated | 4 total | 2 available | 2 unavailable" in out
    assert "StrategyType:           RollingUpdate" in out
    assert "RollingUpdateStrategy:  25% max unavailable, 1 max surge" in out
    assert "Pod Template:" in out and "   nginx:" in out and "    Image:         nginx:1.25" in out
    # the table's first column runs on into OldReplicaSets:/NewReplicaSet: (one tabwriter block, as in kubectl)
    assert "  Type           Status  Reason" in out and "  Available      True    MinimumReplicasAvailable" in out
    assert "OldReplicaSets:  web-4c (1/1 replicas created)" in out
    assert "NewReplicaSet:   web-5d (3/3 replicas created)" in out


def test_replica_set_counts_only_the_pods_it_controls() -> None:
    r = rs("web-5d", 3, template=DEPLOY_TEMPLATE)

    def pod(name: str, phase: str, owner: str) -> core_pb2.Pod:
        p: core_pb2.Pod = obj("v1", "Pod", name, metadata={"ownerReferences": [
            {"kind": "ReplicaSet", "name": "x", "uid": owner, "controller": True}]}, status={"phase": phase})
        return p

    pods = [pod("a", "Running", "uid-web-5d"), pod("b", "Pending", "uid-web-5d"), pod("c", "Running", "nope")]
    out = lines(r, Related(pods=pods))
    assert "Controlled By:  Deployment/web" in out
    assert "Replicas:       3 current / 3 desired" in out
    assert "Pods Status:    1 Running / 1 Waiting / 0 Succeeded / 0 Failed" in out


def test_stateful_set() -> None:
    s = obj("apps/v1", "StatefulSet", "store", spec={
        "replicas": 2, "serviceName": "store", "selector": {"matchLabels": {"app": "web"}},
        "template": DEPLOY_TEMPLATE, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]},
        status={"replicas": 1})
    out = lines(s)
    assert "Replicas:           2 desired | 1 total" in out
    assert "Update Strategy:    RollingUpdate" in out and "  Partition:        0" in out
    assert out[out.index("Volume Claims:") + 1:out.index("Volume Claims:") + 7] == [
        "  Name:          data", "  StorageClass:", "  Labels:        <none>", "  Annotations:   <none>",
        "  Capacity:      1Gi", "  Access Modes:  [ReadWriteOnce]"]


def test_daemon_set() -> None:
    ds = obj("apps/v1", "DaemonSet", "logger", spec={
        "selector": {"matchLabels": {"app": "web"}}, "template": DEPLOY_TEMPLATE},
        status={"desiredNumberScheduled": 3, "currentNumberScheduled": 2, "updatedNumberScheduled": 2,
                "numberAvailable": 1, "numberMisscheduled": 0})
    out = lines(ds)
    assert "Desired Number of Nodes Scheduled: 3" in out
    assert "Number of Nodes Scheduled with Available Pods: 1" in out
    assert "Node-Selector:  <none>" in out


def test_job() -> None:
    job = obj("batch/v1", "Job", "pi", spec={
        "completions": 3, "parallelism": 2, "backoffLimit": 4,
        "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}},
        status={"active": 1, "ready": 1, "succeeded": 2, "startTime": T0, "completionTime": "2026-01-10T11:00:42Z"})
    out = lines(job)
    assert "Parallelism:      2" in out and "Completions:      3" in out and "Backoff Limit:    4" in out
    assert "Duration:         42s" in out
    assert "Pods Statuses:    1 Active (1 Ready) / 2 Succeeded / 0 Failed" in out


def test_cron_job() -> None:
    cj = obj("batch/v1", "CronJob", "tick", spec={
        "schedule": "*/5 * * * *", "concurrencyPolicy": "Forbid", "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 1, "jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "c", "image": "busybox"}]}}}}},
        status={"lastScheduleTime": T0, "active": [{"kind": "Job", "name": "tick-1"}]})
    out = lines(cj)
    assert "Schedule:                      */5 * * * *" in out
    assert "Concurrency Policy:            Forbid" in out
    assert "Last Schedule Time:  Sat, 10 Jan 2026 11:00:00 +0000" in out
    assert "Active Jobs:         tick-1" in out


def test_service_with_endpoints() -> None:
    svc = obj("v1", "Service", "web", spec={
        "type": "NodePort", "selector": {"app": "web"}, "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
        "sessionAffinity": "None",
        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"}]})
    ep = obj("v1", "Endpoints", "web", subsets=[{"addresses": [{"ip": "10.244.0.5"}, {"ip": "10.244.0.6"}],
                                                 "ports": [{"name": "http", "port": 8080}]}])
    out = lines(svc, Related(endpoints=ep))
    for expected in ["Selector:          app=web", "Type:              NodePort", "IP:                10.96.0.10",
                     "Port:              http  80/TCP", "TargetPort:        8080/TCP",
                     "NodePort:          http  30080/TCP", "Endpoints:         10.244.0.5:8080,10.244.0.6:8080",
                     "Session Affinity:  None"]:
        assert expected in out, expected


def test_node() -> None:
    node = obj("v1", "Node", "node-1", namespace="", metadata={
        "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "node-1"}},
        spec={"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]},
        status={"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                "message": "kubelet is posting ready status", "lastHeartbeatTime": T0,
                                "lastTransitionTime": T0}],
                "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}]})
    pod = obj("v1", "Pod", "web-1", spec={"nodeName": "node-1", "containers": [
        {"name": "c", "image": "x", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]},
        status={"phase": "Running"})
    done = obj("v1", "Pod", "done", spec={"nodeName": "node-1", "containers": [{"name": "c", "image": "x"}]},
               status={"phase": "Succeeded"})
    out = lines(node, Related(pods=[pod, done]))
    assert "Roles:              control-plane" in out
    assert "Taints:             dedicated=gpu:NoSchedule" in out
    assert "Unschedulable:      false" in out
    assert any(line.startswith("  Ready  True    Sat, 10 Jan 2026 11:00:00 +0000") for line in out)
    assert "  InternalIP:  10.0.0.5" in out and "  memory:  8Gi" in out
    assert "Non-terminated Pods:  (1 in total)" in out
    assert any(line.split() == ["default", "web-1", "1", "(25%)", "0", "(0%)", "1Gi", "(12%)", "0", "(0%)", "60m"]
               for line in out)
    assert any(line.split() == ["cpu", "1", "(25%)", "0", "(0%)"] for line in out)


def test_namespace() -> None:
    ns = obj("v1", "Namespace", "team-a", namespace="", metadata={"labels": {"team": "a"}},
             status={"phase": "Active"})
    assert lines(ns) == ["Name:         team-a", "Labels:       team=a", "Annotations:  <none>", "Status:       Active",
                         "", "No resource quota.", "", "No LimitRange resource."]


def test_secret_shows_sizes_never_values() -> None:
    secret = obj("v1", "Secret", "db", type="Opaque", data={"password": "czNjcjN0IQ==", "user": "YWRtaW4="})
    text = describe(secret, now=NOW)
    assert text.splitlines()[-4:] == ["Data", "====", "password:  7 bytes", "user:      5 bytes"]
    assert "Type:  Opaque" in text.splitlines()
    assert "s3cr3t" not in text and "admin" not in text and "czNjcjN0" not in text


def test_config_map() -> None:
    cm = obj("v1", "ConfigMap", "app", data={"LOG_LEVEL": "info", "app.properties": "a=1\nb=2\n"})
    out = lines(cm, Related(events=[event("Updated", "changed", kind="ConfigMap", name="app")]))
    assert out[out.index("Data"):out.index("Data") + 10] == [
        "Data", "====", "LOG_LEVEL:", "----", "info", "", "app.properties:", "----", "a=1", "b=2"]
    assert "  Normal  Updated  10m   kubelet  changed" in out


def test_persistent_volume_claim_used_by() -> None:
    pvc = obj("v1", "PersistentVolumeClaim", "data", spec={
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "volumeMode": "Filesystem"},
        status={"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]})
    user = obj("v1", "Pod", "db-0", spec={"containers": [{"name": "c", "image": "x"}], "volumes": [
        {"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]})
    other = obj("v1", "Pod", "web", spec={"containers": [{"name": "c", "image": "x"}]})
    out = lines(pvc, Related(pods=[user, other]))
    assert "Status:        Bound" in out and "Capacity:      1Gi" in out and "Access Modes:  ReadWriteOnce" in out
    assert "Used By:       db-0" in out


def test_endpoints() -> None:
    ep = obj("v1", "Endpoints", "web", subsets=[{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                                                 "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}])
    out = lines(ep)
    assert "  Addresses:          10.0.0.1,10.0.0.2" in out and "  NotReadyAddresses:  <none>" in out
    assert "    Name  Port  Protocol" in out and "    http  80    TCP" in out


def test_lease_uses_the_generic_describer() -> None:
    lease = obj("coordination.k8s.io/v1", "Lease", "node-1", namespace="kube-node-lease",
                spec={"holderIdentity": "node-1", "leaseDurationSeconds": 40})
    out = lines(lease)
    assert "Kind:         Lease" in out and "Spec:" in out
    assert "  Holder Identity:         node-1" in out and "  Lease Duration Seconds:  40" in out
    assert "  UID:                 uid-node-1" in out
    assert out[-1].split() == ["Events:", "<none>"]
