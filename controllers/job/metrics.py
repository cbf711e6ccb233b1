"""The Job controller's Prometheus metrics, with Kubernetes' names and labels."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

JOB_SYNC_DURATION = Histogram(
    "job_controller_job_sync_duration_seconds", "The time it took to sync a job",
    ["completion_mode", "result", "action"],
    buckets=tuple(0.004 * 2**i for i in range(15)))
JOB_SYNCS = Counter("job_controller_job_syncs", "The number of job syncs", ["completion_mode", "result", "action"])
JOBS_FINISHED = Counter("job_controller_jobs_finished", "The number of finished jobs",
                        ["completion_mode", "result", "reason"])
JOB_PODS_FINISHED = Counter("job_controller_job_pods_finished", "The number of finished Pods that are fully tracked",
                            ["completion_mode", "result"])

# The sync's ``action`` label.
RECONCILING = "reconciling"
TRACKING = "tracking"
PODS_CREATED = "pods_created"
PODS_DELETED = "pods_deleted"
