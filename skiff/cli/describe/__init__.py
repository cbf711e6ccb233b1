"""``skiffctl describe``'s text: one describer per kind, in kubectl's layout.

A describer is a pure function ``(obj, related, now) -> None`` writing lines into an
:class:`Out`. It never talks to the API: whatever else it shows (the object's Events, the pods a
ReplicaSet controls, a Deployment's ReplicaSets, a Service's Endpoints, the pods on a Node) is
fetched by the ``describe`` verb beforehand and handed over in :class:`Related`. That keeps every
describer testable on hand-built objects with a fixed clock.

Lines are written as kubectl writes them: an indentation level (two spaces each) and cells
separated by tabs. :func:`align` then pads the cells the way Go's ``text/tabwriter`` does with
kubectl's settings (padding 2): a column is aligned over a run of consecutive lines that all have
a cell in it, so ``Name:``/``Namespace:``/``Labels:`` line up, and a header without a tab
(``Containers:``) starts a new run. Kinds without a describer of their own get the generic one,
which walks the manifest (``holderIdentity`` is shown as ``Holder Identity``).

Describers are written with :class:`Out`'s section builders rather than line by line: ``rows``
(``Name:  value`` lines, a None value leaving its line out), ``listing`` (``Labels:``-style values one
a line, or ``<none>``), ``section`` (a titled block one level in, or ``<none>``) and ``table`` (a
titled table with its header and rule), plus :func:`~skiff.cli.describe.text.header` for the
Name/Namespace/.../Labels/Annotations lines every describe begins with.

The pieces live in ``text`` (Out and its builders, align, formats, the header, events), ``pods`` (Pod
and the shared container and template sections), ``workloads`` and ``cluster`` (the other kinds and the
generic describer).
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.message import Message

from skiff.api import kinds
from skiff.cli.describe.cluster import (
    describe_config_map,
    describe_endpoints,
    describe_generic,
    describe_namespace,
    describe_node,
    describe_pvc,
    describe_secret,
    describe_service,
)
from skiff.cli.describe.pods import describe_pod
from skiff.cli.describe.text import Describer, Out, Related, align, selector_text
from skiff.cli.describe.workloads import (
    describe_cron_job,
    describe_daemon_set,
    describe_deployment,
    describe_job,
    describe_replica_set,
    describe_stateful_set,
)

__all__ = ["DESCRIBERS", "Related", "align", "describe", "selector_text"]

DESCRIBERS: dict[str, Describer] = {
    "Pod": describe_pod,
    "Deployment": describe_deployment,
    "ReplicaSet": describe_replica_set,
    "StatefulSet": describe_stateful_set,
    "DaemonSet": describe_daemon_set,
    "Job": describe_job,
    "CronJob": describe_cron_job,
    "Service": describe_service,
    "Node": describe_node,
    "Namespace": describe_namespace,
    "Secret": describe_secret,
    "ConfigMap": describe_config_map,
    "PersistentVolumeClaim": describe_pvc,
    "Endpoints": describe_endpoints,
}
"""The kinds with a layout of their own; every other kind (Lease, ...) is described generically."""


def describe(obj: Message, related: Related | None = None, *, now: datetime | None = None) -> str:
    """The describe text of one object."""
    out = Out()
    describer = DESCRIBERS.get(kinds.of(obj).kind, describe_generic)
    describer(obj, related or Related(), now or datetime.now(UTC), out)
    return out.render()
