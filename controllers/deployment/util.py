"""Pure helpers of the Deployment controller (Kubernetes' ``deployment/util``).

Nothing here talks to the apiserver: these functions read protobuf objects and compute numbers,
names and conditions, so they are tested directly and shared by every strategy module.

- **Fenceposts**: ``maxSurge`` resolves rounding *up*, ``maxUnavailable`` rounding *down*; when
  both come out 0 (say 25% of 1 replica unavailable with maxSurge 0) ``maxUnavailable`` becomes 1,
  on the guess that one pod down beats a rollout that can never move.
- **pod-template-hash**: FNV-32a over the template's deterministic protobuf serialization, then
  ``collisionCount`` as four little-endian bytes, rendered like Kubernetes' ``SafeEncodeString``
  (each decimal digit mapped into a vowel-free alphabet), so names look like ``web-5d8f7c9b8``.
- **Annotations** the controller keeps on ReplicaSets: the revision, and the desired/max
  replicas that proportional scaling reads back.
- **Conditions**: setting one keeps its lastTransitionTime when only the reason changes, and is
  a no-op when status and reason are the same.

What skiffctl's ``rollout`` reads too is not here but in the API library: the annotation keys,
the revision annotation and template equality ignoring pod-template-hash
(:mod:`skiff.api.deployments`), and owner references (:mod:`skiff.api.ownership`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from datetime import datetime

from controllers.base import omit_zero
from skiff.api import codec
from skiff.api.deployments import ANNOTATIONS_NOT_COPIED, DESIRED_REPLICAS, MAX_REPLICAS, revision_of
from skiff.api.strconv import atoi
from skiff.api.timestamps import parse_rfc3339, rfc3339
from skiff.api.v1 import apps_pb2, core_pb2

MAX_REVISION_HISTORY_CHARS = 2000
MAX_INT32 = 2**31 - 1

ROLLING_UPDATE = "RollingUpdate"
RECREATE = "Recreate"

# Condition types and reasons (Kubernetes' deployment/util constants).
PROGRESSING = "Progressing"
AVAILABLE = "Available"
REPLICA_FAILURE = "ReplicaFailure"
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
FAILED_RS_CREATE = "ReplicaSetCreateError"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"
# Event reasons of a rollback asked for with the deprecated.deployment.rollback.to annotation.
ROLLBACK_DONE = "DeploymentRollback"
ROLLBACK_REVISION_NOT_FOUND = "DeploymentRollbackRevisionNotFound"
ROLLBACK_TEMPLATE_UNCHANGED = "DeploymentRollbackTemplateUnchanged"

_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193

RS = apps_pb2.ReplicaSet
Deployment = apps_pb2.Deployment


# ---- time ----



# ---- fenceposts ----

def scaled_value(value: int | str | None, total: int, *, round_up: bool) -> int:
    """``GetScaledValueFromIntOrPercent``: an int as is, ``"25%"`` of ``total`` rounded as asked."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    if not value.endswith("%"):
        raise ValueError(f"invalid value for IntOrString: invalid value {value!r}")
    exact = int(value[:-1]) * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def resolve_fenceposts(max_surge: int | str | None, max_unavailable: int | str | None,
                       desired: int) -> tuple[int, int]:
    """(surge, unavailable) for ``desired`` replicas; never both 0."""
    surge = scaled_value(max_surge, desired, round_up=True)
    unavailable = scaled_value(max_unavailable, desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def is_rolling_update(d: Deployment) -> bool:
    return d.spec.strategy.type == ROLLING_UPDATE


def _fenceposts(d: Deployment) -> tuple[int, int]:
    ru = d.spec.strategy.rolling_update
    return resolve_fenceposts(codec.int_or_string(ru.max_surge), codec.int_or_string(ru.max_unavailable),
                              d.spec.replicas)


def max_surge(d: Deployment) -> int:
    return _fenceposts(d)[0] if is_rolling_update(d) else 0


def max_unavailable(d: Deployment) -> int:
    if not is_rolling_update(d) or d.spec.replicas == 0:
        return 0
    return min(_fenceposts(d)[1], d.spec.replicas)


def new_rs_new_replicas(d: Deployment, all_rss: Sequence[RS], new_rs: RS) -> int:
    """How big the new ReplicaSet may be now (``NewRSNewReplicas``)."""
    if d.spec.strategy.type == RECREATE:
        return d.spec.replicas
    if not is_rolling_update(d):
        raise ValueError(f"deployment type {d.spec.strategy.type} isn't supported")
    surge = scaled_value(codec.int_or_string(d.spec.strategy.rolling_update.max_surge), d.spec.replicas,
                         round_up=True)
    max_total = d.spec.replicas + surge
    current = replicas_of(all_rss)
    if current >= max_total:
        return new_rs.spec.replicas
    scale_up = min(max_total - current, d.spec.replicas - new_rs.spec.replicas)
    return new_rs.spec.replicas + scale_up


def round_half_away(value: float) -> int:
    """Go's ``math.Round`` (Python's ``round`` rounds half to even)."""
    return int(math.floor(value + 0.5)) if value >= 0 else -int(math.floor(-value + 0.5))


def _annotation_int(rs: RS, key: str) -> int | None:
    return atoi(rs.metadata.annotations.get(key, ""))


def replica_set_fraction(rs: RS, d: Deployment) -> int:
    """How many replicas ``rs`` gains (or loses) when the deployment's size changes."""
    if d.spec.replicas == 0:
        return -rs.spec.replicas
    deployment_replicas = d.spec.replicas + max_surge(d)
    annotated = _annotation_int(rs, MAX_REPLICAS)
    if annotated is None:
        annotated = d.status.replicas
    return round_half_away(rs.spec.replicas * deployment_replicas / annotated) - rs.spec.replicas


def proportion(rs: RS, d: Deployment, to_add: int, added: int) -> int:
    """``GetProportion``: ``rs``'s share of ``to_add``, bounded by what is left to hand out."""
    if rs.spec.replicas == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = replica_set_fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


# ---- ReplicaSet sets ----

def replicas_of(rss: Iterable[RS | None]) -> int:
    """Sum of spec.replicas."""
    return sum(rs.spec.replicas for rs in rss if rs is not None)


def actual_replicas_of(rss: Iterable[RS | None]) -> int:
    return sum(rs.status.replicas for rs in rss if rs is not None)


def ready_replicas_of(rss: Iterable[RS | None]) -> int:
    return sum(rs.status.ready_replicas for rs in rss if rs is not None)


def available_replicas_of(rss: Iterable[RS | None]) -> int:
    return sum(rs.status.available_replicas for rs in rss if rs is not None)


def active(rss: Iterable[RS | None]) -> list[RS]:
    """ReplicaSets with spec.replicas > 0."""
    return [rs for rs in rss if rs is not None and rs.spec.replicas > 0]


def by_creation(rss: Iterable[RS]) -> list[RS]:
    """Oldest first; ties by name."""
    return sorted(rss, key=lambda rs: (rs.metadata.creation_timestamp, rs.metadata.name))


def by_size_older_first(rss: Iterable[RS]) -> list[RS]:
    """Largest first; among equals the oldest first (scaling down)."""
    return sorted(by_creation(rss), key=lambda rs: -rs.spec.replicas)


def by_size_newer_first(rss: Iterable[RS]) -> list[RS]:
    """Largest first; among equals the newest first (scaling up)."""
    return sorted(list(reversed(by_creation(rss))), key=lambda rs: -rs.spec.replicas)


def revision(obj: RS | Deployment) -> int:
    """The revision annotation as a number; 0 when absent or malformed."""
    return revision_of(obj) or 0


def last_revision(rss: Iterable[apps_pb2.ReplicaSet | None]) -> int:
    """The second highest revision (``LastRevision``): the one before the current; 0 when none."""
    highest = second = 0
    for rs in rss:
        number = revision_of(rs) if rs is not None else None
        if number is None:
            continue
        if number >= highest:
            highest, second = number, highest
        elif number > second:
            second = number
    return second


def by_revision(rss: Iterable[RS]) -> list[RS]:
    return sorted(by_creation(rss), key=revision)


def max_revision(rss: Iterable[RS | None]) -> int:
    return max((revision(rs) for rs in rss if rs is not None), default=0)


def is_saturated(d: Deployment, rs: RS | None) -> bool:
    """The ReplicaSet runs the whole deployment, all available."""
    if rs is None:
        return False
    desired = _annotation_int(rs, DESIRED_REPLICAS)
    replicas = d.spec.replicas
    return rs.spec.replicas == replicas and desired == replicas and rs.status.available_replicas == replicas


def find_active_or_latest(new_rs: RS | None, old_rss: Sequence[RS]) -> RS | None:
    """The only active ReplicaSet; the newest one when none is active; None when several are."""
    if new_rs is None and not old_rss:
        return None
    newest_first = list(reversed(by_creation(old_rss)))
    running = active([*newest_first, new_rs])
    if len(running) == 1:
        return running[0]
    if running:
        return None
    return new_rs if new_rs is not None else newest_first[0]


# ---- templates and hashing ----

def _fnv32a(data: bytes, state: int = _FNV32_OFFSET) -> int:
    for byte in data:
        state = ((state ^ byte) * _FNV32_PRIME) & 0xFFFFFFFF
    return state


def safe_encode(text: str) -> str:
    """``rand.SafeEncodeString``: no vowels, no look-alikes, so no words."""
    return "".join(_SAFE_ALPHABET[ord(ch) % len(_SAFE_ALPHABET)] for ch in text)


def compute_hash(template: core_pb2.PodTemplateSpec, collision_count: int | None) -> str:
    """The pod-template-hash of a template (stable across processes and runs)."""
    state = _fnv32a(template.SerializeToString(deterministic=True))
    if collision_count is not None:
        state = _fnv32a((collision_count & 0xFFFFFFFF).to_bytes(4, "little"), state)
    return safe_encode(str(state))


# ---- annotations ----

def set_replicas_annotations(rs: RS, desired: int, maximum: int) -> bool:
    changed = False
    for key, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(maximum))):
        if rs.metadata.annotations.get(key) != value:
            rs.metadata.annotations[key] = value
            changed = True
    return changed


def replicas_annotations_need_update(rs: RS, desired: int, maximum: int) -> bool:
    annotations = rs.metadata.annotations
    return annotations.get(DESIRED_REPLICAS) != str(desired) or annotations.get(MAX_REPLICAS) != str(maximum)


def copy_deployment_annotations(d: Deployment, rs: RS) -> bool:
    """The deployment's own annotations (change-cause, ...) onto the ReplicaSet."""
    changed = False
    for key, value in d.metadata.annotations.items():
        if key in ANNOTATIONS_NOT_COPIED or rs.metadata.annotations.get(key) == value:
            continue
        rs.metadata.annotations[key] = value
        changed = True
    return changed


# ---- conditions ----

Condition = apps_pb2.DeploymentCondition


def new_condition(type_: str, status: str, reason: str, message: str, now: datetime) -> Condition:
    stamp = rfc3339(now)
    return Condition(type=type_, status=status, reason=reason, message=message, last_update_time=stamp,
                     last_transition_time=stamp)


def get_condition(status: apps_pb2.DeploymentStatus, type_: str) -> Condition | None:
    return next((c for c in status.conditions if c.type == type_), None)


def remove_condition(status: apps_pb2.DeploymentStatus, type_: str) -> None:
    kept = [copy.deepcopy(c) for c in status.conditions if c.type != type_]
    del status.conditions[:]
    status.conditions.extend(kept)


def set_condition(status: apps_pb2.DeploymentStatus, condition: Condition) -> None:
    """Replace the condition of that type; same status and reason is a no-op."""
    current = get_condition(status, condition.type)
    if current is not None and current.status == condition.status and current.reason == condition.reason:
        return
    condition = copy.deepcopy(condition)
    if current is not None and current.status == condition.status:
        condition.last_transition_time = current.last_transition_time
    remove_condition(status, condition.type)
    status.conditions.append(condition)


def has_progress_deadline(d: Deployment) -> bool:
    return d.spec.HasField("progress_deadline_seconds") and d.spec.progress_deadline_seconds != MAX_INT32


def has_revision_history_limit(d: Deployment) -> bool:
    return d.spec.HasField("revision_history_limit") and d.spec.revision_history_limit != MAX_INT32


# ---- status ----

_OMITEMPTY_COUNTS = ("observed_generation", "replicas", "updated_replicas", "ready_replicas", "available_replicas",
                     "unavailable_replicas")
"""DeploymentStatus fields Kubernetes omits when zero."""


def calculate_status(all_rss: Sequence[RS | None], new_rs: RS | None, d: Deployment,
                     now: datetime) -> apps_pb2.DeploymentStatus:
    """The deployment's status as its ReplicaSets say, with the Available condition."""
    available = available_replicas_of(all_rss)
    status = apps_pb2.DeploymentStatus(
        observed_generation=d.metadata.generation,
        replicas=actual_replicas_of(all_rss),
        updated_replicas=actual_replicas_of([new_rs]),
        ready_replicas=ready_replicas_of(all_rss),
        available_replicas=available,
        unavailable_replicas=max(replicas_of(all_rss) - available, 0),
    )
    if d.status.HasField("collision_count"):
        status.collision_count = d.status.collision_count
    status.conditions.extend(copy.deepcopy(c) for c in d.status.conditions)
    if available >= d.spec.replicas - max_unavailable(d):
        cond = new_condition(AVAILABLE, "True", MIN_AVAILABLE, "Deployment has minimum availability.", now)
    else:
        cond = new_condition(AVAILABLE, "False", MIN_UNAVAILABLE, "Deployment does not have minimum availability.",
                             now)
    set_condition(status, cond)
    omit_zero(status, *_OMITEMPTY_COUNTS)
    return status


def deployment_complete(d: Deployment, status: apps_pb2.DeploymentStatus) -> bool:
    replicas = d.spec.replicas
    return (status.updated_replicas == replicas and status.replicas == replicas
            and status.available_replicas == replicas and status.observed_generation >= d.metadata.generation)


def deployment_progressing(d: Deployment, status: apps_pb2.DeploymentStatus) -> bool:
    """Anything moved forward since the stored status."""
    old = d.status
    return (status.updated_replicas > old.updated_replicas
            or status.replicas - status.updated_replicas < old.replicas - old.updated_replicas
            or status.ready_replicas > old.ready_replicas
            or status.available_replicas > old.available_replicas)


def deployment_timed_out(d: Deployment, status: apps_pb2.DeploymentStatus, now: datetime) -> bool:
    if not has_progress_deadline(d):
        return False
    cond = get_condition(status, PROGRESSING)
    if cond is None or cond.reason == NEW_RS_AVAILABLE:
        return False
    if cond.reason == TIMED_OUT:
        return True
    since = parse_rfc3339(cond.last_update_time)
    if since is None:
        return False
    return (now - since).total_seconds() > d.spec.progress_deadline_seconds
