"""A small valid manifest for every kind the API serves, for tests and benchmarks."""

from __future__ import annotations

import copy
from typing import Any

POD_SPEC: dict[str, Any] = {"containers": [{"name": "app", "image": "busybox:1.36", "command": ["sleep", "3600"]}]}
TEMPLATE: dict[str, Any] = {"metadata": {"labels": {"app": "demo"}}, "spec": POD_SPEC}

SAMPLES: dict[str, dict[str, Any]] = {
    "Namespace": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo-ns"}},
    "Node": {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"},
             "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"}}},
    "Pod": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "demo", "labels": {"app": "demo"}},
            "spec": POD_SPEC},
    "Service": {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "demo"},
                "spec": {"selector": {"app": "demo"}, "ports": [{"port": 80, "targetPort": 8080}]}},
    "Endpoints": {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "demo"},
                  "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 8080}]}]},
    "Secret": {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "demo"},
               "stringData": {"password": "s3cret"}},
    "ConfigMap": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "demo"}, "data": {"k": "v"}},
    "Event": {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "demo.1"},
              "involvedObject": {"kind": "Pod", "name": "demo", "namespace": "default"},
              "reason": "Tested", "message": "a test event", "type": "Normal"},
    "PersistentVolumeClaim": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "demo"},
                              "spec": {"accessModes": ["ReadWriteOnce"],
                                       "resources": {"requests": {"storage": "1Gi"}}}},
    "Lease": {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "demo"},
              "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}},
    "ReplicaSet": {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "demo"},
                   "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "demo"}}, "template": TEMPLATE}},
    "Deployment": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "demo"},
                   "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "demo"}}, "template": TEMPLATE}},
    "StatefulSet": {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "demo"},
                    "spec": {"serviceName": "demo", "selector": {"matchLabels": {"app": "demo"}},
                             "template": TEMPLATE}},
    "DaemonSet": {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "demo"},
                  "spec": {"selector": {"matchLabels": {"app": "demo"}}, "template": TEMPLATE}},
    "ControllerRevision": {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "demo-1"},
                           "revision": 1, "data": {"spec": {"template": {"metadata": {}}}}},
    "Job": {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "demo"},
            "spec": {"template": {"spec": {**POD_SPEC, "restartPolicy": "Never"}}}},
    "CronJob": {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "demo"},
                "spec": {"schedule": "*/5 * * * *",
                         "jobTemplate": {"spec": {"template": {"spec": {**POD_SPEC, "restartPolicy": "OnFailure"}}}}}},
}


def sample(kind: str, **metadata: Any) -> dict[str, Any]:
    doc = copy.deepcopy(SAMPLES[kind])
    doc["metadata"].update(metadata)
    return doc
