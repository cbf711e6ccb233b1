"""The revision history of a workload, as ``rollout history`` and ``rollout undo`` read it.

Kubernetes keeps no history object for a Deployment: its history *is* the ReplicaSets it owns
(ownerReferences uid), each numbered by its ``deployment.kubernetes.io/revision`` annotation and
carrying its pod template, and ``kubernetes.io/change-cause`` for the CHANGE-CAUSE column.
StatefulSets and DaemonSets keep ControllerRevisions they own, numbered by ``revision``, whose
``data`` is a strategic merge patch of the object (``{"spec": {"template": {..., "$patch":
"replace"}}}``); the revision's template is that patch applied to the current object.

``History`` is one workload's revisions as pod templates; ``describe_template`` prints one as
kubectl's ``DescribePodTemplate`` does, with tabs between a field and its value (kubectl prints
``rollout history --revision=N`` without aligning them), so two revisions can be compared with
``diff <(skiffctl rollout history deploy/web --revision=1) <(skiffctl rollout history
deploy/web --revision=2)``.

What the Deployment controller writes and this module reads back — the revision annotation, the
bookkeeping annotations a rollback leaves alone, templates compared without pod-template-hash —
comes from :mod:`skiff.api.deployments`; "owned" is :func:`skiff.api.ownership.is_controlled_by`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message

from skiff.api import codec, kinds
from skiff.api.deployments import revision_of, roll_back_to
from skiff.api.manifest import to_manifest
from skiff.api.ownership import is_controlled_by
from skiff.api.patch import strategic_merge_patch
from skiff.api.v1 import apps_pb2, core_pb2
from skiff.client.client import Client

CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"


class HistoryError(Exception):
    """kubectl's history / rollback errors (``unable to find the specified revision``)."""


@dataclass
class Revision:
    number: int
    template: core_pb2.PodTemplateSpec
    change_cause: str = ""
    source: Message | None = None
    """The ReplicaSet or ControllerRevision the revision comes from."""


@dataclass
class History:
    revisions: dict[int, Revision] = field(default_factory=dict)

    def numbers(self) -> list[int]:
        return sorted(self.revisions)

    def get(self, number: int) -> Revision:
        if number not in self.revisions:
            raise HistoryError("unable to find the specified revision")
        return self.revisions[number]

    def previous(self) -> Revision | None:
        """The second newest revision: where ``undo`` goes by default."""
        numbers = self.numbers()
        return self.revisions[numbers[-2]] if len(numbers) >= 2 else None


# ---- reading history ----

def deployment_history(deployment: apps_pb2.Deployment, replica_sets: list[apps_pb2.ReplicaSet]) -> History:
    history = History()
    for rs in replica_sets:
        number = revision_of(rs)
        if number is None or not is_controlled_by(rs, deployment):
            continue
        template = copy.deepcopy(rs.spec.template)
        cause = rs.metadata.annotations.get(CHANGE_CAUSE_ANNOTATION, "")
        if cause:
            template.metadata.annotations[CHANGE_CAUSE_ANNOTATION] = cause
        history.revisions[number] = Revision(number, template, cause, rs)
    return history


def apply_revision(obj: Message, revision: apps_pb2.ControllerRevision) -> Message:
    """The object as it was at ``revision``: its ``data`` patch applied to the current object."""
    data = codec.to_dict(revision).get("data") or {}
    merged = strategic_merge_patch(to_manifest(obj), data)
    return codec.from_dict(type(obj), merged)


def controller_history(obj: Any, revisions: list[apps_pb2.ControllerRevision]) -> History:
    history = History()
    for cr in revisions:
        if not is_controlled_by(cr, obj):
            continue
        at = apply_revision(obj, cr)
        cause = cr.metadata.annotations.get(CHANGE_CAUSE_ANNOTATION, "")
        history.revisions[int(cr.revision)] = Revision(int(cr.revision), at.spec.template, cause,  # type: ignore[attr-defined]
                                                       cr)
    return history


async def load_history(client: Client, obj: Any) -> History:
    """The history of a Deployment, StatefulSet or DaemonSet, read from the API."""
    ns = obj.metadata.namespace
    kind = kinds.of(obj).kind
    if kind == "Deployment":
        listed = await client.list(apps_pb2.ReplicaSet, namespace=ns)
        return deployment_history(obj, listed.items)
    if kind in ("StatefulSet", "DaemonSet"):
        crs = await client.list(apps_pb2.ControllerRevision, namespace=ns)
        return controller_history(obj, crs.items)
    raise HistoryError(f'no history viewer has been implemented for "{kinds.of(obj).group_kind}"')


# ---- printing ----

def tabbed(rows: list[list[str]]) -> str:
    """Go's tabwriter as kubectl sets it up for history: columns padded by two spaces."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["".join(cell.ljust(widths[i] + 2) if i < len(row) - 1 else cell for i, cell in enumerate(row))
             for row in rows]
    return "\n".join(lines) + "\n"


def history_table(obj: Any, history: History) -> str:
    if not history.revisions:
        return "No rollout history found."
    if kinds.of(obj).kind == "StatefulSet":
        return tabbed([["REVISION"], *[[str(n)] for n in history.numbers()]])
    rows = [["REVISION", "CHANGE-CAUSE"]]
    rows += [[str(n), history.revisions[n].change_cause or "<none>"] for n in history.numbers()]
    return tabbed(rows)


def _multiline(title: str, pairs: list[str]) -> list[str]:
    if not pairs:
        return [f"{title}:\t<none>"]
    return [f"{title}:\t{pairs[0]}", *[f"\t{p}" for p in pairs[1:]]]


def _ports(container: Any, host: bool) -> str:
    ports = [f"{p.host_port if host else p.container_port}/{p.protocol or 'TCP'}" for p in container.ports]
    return ", ".join(ports) if ports else "<none>"


def _container_lines(c: Any) -> list[str]:
    lines = [f"   {c.name}:", f"    Image:\t{c.image}", f"    Port:\t{_ports(c, False)}",
             f"    Host Port:\t{_ports(c, True)}"]
    for title, values in (("Command", c.command), ("Args", c.args)):
        if values:
            lines += [f"    {title}:", *[f"      {v}" for v in values]]
    for title, amounts in (("Limits", c.resources.limits), ("Requests", c.resources.requests)):
        if amounts:
            lines += [f"    {title}:", *[f"      {k}:\t{amounts[k]}" for k in sorted(amounts)]]
    env = [f"      {e.name}:\t{e.value if not e.HasField('value_from') else '<set to a reference>'}" for e in c.env]
    lines += ["    Environment:" + ("" if env else "\t<none>"), *env]
    mounts = [f"      {m.mount_path} from {m.name} ({'ro' if m.read_only else 'rw'})" for m in c.volume_mounts]
    lines += ["    Mounts:" + ("" if mounts else "\t<none>"), *mounts]
    return lines


def describe_template(template: core_pb2.PodTemplateSpec) -> str:
    """kubectl's DescribePodTemplate (fields and values separated by tabs)."""
    labels = [f"{k}={template.metadata.labels[k]}" for k in sorted(template.metadata.labels)]
    lines = ["Pod Template:", *_multiline("  Labels", labels)]
    annotations = template.metadata.annotations
    if annotations:
        lines += _multiline("  Annotations", [f"{k}: {annotations[k]}" for k in sorted(annotations)])
    spec = template.spec
    if spec.service_account_name:
        lines.append(f"  Service Account:\t{spec.service_account_name}")
    if spec.init_containers:
        lines.append("  Init Containers:")
        for c in spec.init_containers:
            lines += _container_lines(c)
    lines.append("  Containers:")
    for c in spec.containers:
        lines += _container_lines(c)
    volumes = [f"   {v.name}:" for v in spec.volumes]
    lines += ["  Volumes:" + ("" if volumes else "\t<none>"), *volumes]
    if spec.priority_class_name:
        lines.append(f"  Priority Class Name:\t{spec.priority_class_name}")
    lines += _multiline("  Node-Selectors", [f"{k}={spec.node_selector[k]}" for k in sorted(spec.node_selector)])
    tolerations = [_toleration(t) for t in spec.tolerations]
    lines += _multiline("  Tolerations", tolerations)
    return "\n".join(lines) + "\n"


def _toleration(t: Any) -> str:
    text = t.key + (f"={t.value}" if t.value else "") if t.key else ""
    text += f":{t.effect}" if t.effect else ""
    if t.operator == "Exists" and not t.value:
        text += " op=Exists"
    if t.HasField("toleration_seconds"):
        text += f" for {t.toleration_seconds}s"
    return text


# ---- rolling back ----

def pick(history: History, to_revision: int, *, what: str) -> Revision:
    """The revision ``undo --to-revision`` means: N, or the previous one for 0."""
    if to_revision < 0:
        raise HistoryError(f"unable to find specified revision {to_revision} in history")
    if to_revision > 0:
        if to_revision not in history.revisions:
            raise HistoryError(f"unable to find specified revision {to_revision} in history")
        return history.revisions[to_revision]
    previous = history.previous()
    if previous is None:
        raise HistoryError(what)
    return previous


def deployment_rollback(deployment: apps_pb2.Deployment, revision: Revision) -> None:
    """Copy the revision's template (minus pod-template-hash) and annotations into the deployment."""
    source = revision.source
    assert isinstance(source, apps_pb2.ReplicaSet)
    roll_back_to(deployment, source)
