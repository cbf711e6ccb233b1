"""A StatefulSet pod's identity and storage (Kubernetes' statefulset/stateful_set_utils.go).

Pod ``i`` of StatefulSet ``web`` is named ``web-i`` (``i`` from ``spec.ordinals.start``), has
hostname ``web-i`` and subdomain ``spec.serviceName`` (so a headless Service gives it a stable DNS
name), the labels ``statefulset.kubernetes.io/pod-name: web-i`` and
``apps.kubernetes.io/pod-index: i``, and for each volumeClaimTemplate ``data`` a volume of the
PersistentVolumeClaim ``data-web-i`` — created before the pod and kept when it goes, so a
replacement pod finds the same storage. ``controller-revision-hash`` names the ControllerRevision
the pod was made from.

``persistentVolumeClaimRetentionPolicy`` decides who owns a claim (plain ownerReferences the
garbage collector follows): ``whenDeleted: Delete`` makes the StatefulSet an owner, so the claims
go with it; ``whenScaled: Delete`` makes the pod an owner once its ordinal is scaled away, so the
claim goes with the pod. Retain (the default) leaves claims ownerless.
"""

from __future__ import annotations

import re

from controllers.history import REVISION_HASH_LABEL
from controllers.pod_control import is_pod_available, is_pod_ready, pod_from_template
from skiff.api.ownership import controller_ref
from skiff.api.v1 import apps_pb2, core_pb2, meta_pb2

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
_ORDINAL = re.compile(r"^(.*)-([0-9]+)$")


def start_ordinal(sts: apps_pb2.StatefulSet) -> int:
    return sts.spec.ordinals.start if sts.spec.HasField("ordinals") else 0


def end_ordinal(sts: apps_pb2.StatefulSet) -> int:
    return start_ordinal(sts) + sts.spec.replicas - 1


def ordinal(pod: core_pb2.Pod) -> int:
    """``getOrdinal``: the number after the last dash, or -1."""
    match = _ORDINAL.match(pod.metadata.name)
    return int(match.group(2)) if match else -1


def parent_name(pod: core_pb2.Pod) -> str:
    match = _ORDINAL.match(pod.metadata.name)
    return match.group(1) if match else ""


def pod_name(sts: apps_pb2.StatefulSet, index: int) -> str:
    return f"{sts.metadata.name}-{index}"


def claim_name(sts: apps_pb2.StatefulSet, template: core_pb2.PersistentVolumeClaim, index: int) -> str:
    return f"{template.metadata.name}-{sts.metadata.name}-{index}"


def in_range(sts: apps_pb2.StatefulSet, pod: core_pb2.Pod) -> bool:
    return start_ordinal(sts) <= ordinal(pod) <= end_ordinal(sts)


def identity_matches(sts: apps_pb2.StatefulSet, pod: core_pb2.Pod) -> bool:
    """``identityMatches``: name, namespace and pod-name label as the set says (hostname and
    subdomain are set once, at creation: a pod's are immutable)."""
    index = ordinal(pod)
    return (index >= 0 and sts.metadata.name == parent_name(pod) and pod.metadata.name == pod_name(sts, index)
            and pod.metadata.namespace == sts.metadata.namespace
            and pod.metadata.labels.get(POD_NAME_LABEL) == pod.metadata.name)


def storage_matches(sts: apps_pb2.StatefulSet, pod: core_pb2.Pod) -> bool:
    """``storageMatches``: every claim template's volume points at the pod's own claim."""
    index = ordinal(pod)
    volumes = {v.name: v for v in pod.spec.volumes}
    for template in sts.spec.volume_claim_templates:
        volume = volumes.get(template.metadata.name)
        if volume is None or volume.persistent_volume_claim.claim_name != claim_name(sts, template, index):
            return False
    return True


def update_identity(sts: apps_pb2.StatefulSet, pod: core_pb2.Pod) -> None:
    """``updateIdentity``: name, namespace and the pod-name and pod-index labels."""
    index = ordinal(pod)
    pod.metadata.name, pod.metadata.namespace = pod_name(sts, index), sts.metadata.namespace
    pod.metadata.labels[POD_NAME_LABEL] = pod.metadata.name
    pod.metadata.labels[POD_INDEX_LABEL] = str(index)


def init_identity(sts: apps_pb2.StatefulSet, pod: core_pb2.Pod) -> None:
    """``initIdentity``: the identity plus hostname and subdomain, for a new pod."""
    update_identity(sts, pod)
    pod.spec.hostname = pod.metadata.name
    if sts.spec.service_name:
        pod.spec.subdomain = sts.spec.service_name


def update_storage(sts: apps_pb2.StatefulSet, pod: core_pb2.Pod) -> None:
    """The claim templates' volumes replace same-named ones of the template (``updateStorage``)."""
    index = ordinal(pod)
    names = {t.metadata.name for t in sts.spec.volume_claim_templates}
    kept = [v for v in pod.spec.volumes if v.name not in names]
    del pod.spec.volumes[:]
    for template in sts.spec.volume_claim_templates:
        volume = pod.spec.volumes.add(name=template.metadata.name)
        volume.persistent_volume_claim.claim_name = claim_name(sts, template, index)
    pod.spec.volumes.extend(kept)


def new_pod(sts: apps_pb2.StatefulSet, revision: str, index: int) -> core_pb2.Pod:
    """``newStatefulSetPod`` of ``sts`` (already at the wanted revision) at ``index``."""
    pod = pod_from_template(sts.spec.template, sts, controller_ref(sts))
    pod.metadata.ClearField("generate_name")
    pod.metadata.name = pod_name(sts, index)
    init_identity(sts, pod)
    update_storage(sts, pod)
    pod.metadata.labels[REVISION_HASH_LABEL] = revision
    return pod


def new_claims(sts: apps_pb2.StatefulSet, pod: core_pb2.Pod) -> list[core_pb2.PersistentVolumeClaim]:
    """The pod's PersistentVolumeClaims from the templates, labelled with the set's selector."""
    claims = []
    for template in sts.spec.volume_claim_templates:
        claim = core_pb2.PersistentVolumeClaim(api_version="v1", kind="PersistentVolumeClaim")
        claim.metadata.CopyFrom(template.metadata)
        claim.spec.CopyFrom(template.spec)
        claim.metadata.name = claim_name(sts, template, ordinal(pod))
        claim.metadata.namespace = sts.metadata.namespace
        claim.metadata.labels.update(sts.spec.selector.match_labels)
        claims.append(claim)
    return claims


def revision_of(pod: core_pb2.Pod) -> str:
    return pod.metadata.labels.get(REVISION_HASH_LABEL, "")


def is_created(pod: core_pb2.Pod) -> bool:
    """Created and seen by the apiserver (``isCreated``: it has a phase)."""
    return bool(pod.status.phase)


def is_terminating(pod: core_pb2.Pod) -> bool:
    return bool(pod.metadata.deletion_timestamp)


def is_running_and_ready(pod: core_pb2.Pod) -> bool:
    return pod.status.phase == "Running" and is_pod_ready(pod)


def is_running_and_available(pod: core_pb2.Pod, min_ready_seconds: int, now: float) -> bool:
    return pod.status.phase == "Running" and is_pod_available(pod, min_ready_seconds, now)


def is_healthy(pod: core_pb2.Pod) -> bool:
    return is_running_and_ready(pod) and not is_terminating(pod)


# ---- claim retention (persistentVolumeClaimRetentionPolicy) ----


def retention(sts: apps_pb2.StatefulSet) -> tuple[str, str]:
    """(whenDeleted, whenScaled), Retain where unset."""
    policy = sts.spec.persistent_volume_claim_retention_policy
    return policy.when_deleted or "Retain", policy.when_scaled or "Retain"


def _owned_by(claim: core_pb2.PersistentVolumeClaim, uid: str) -> bool:
    return any(ref.uid == uid for ref in claim.metadata.owner_references)


def wanted_owners(sts: apps_pb2.StatefulSet, pod: core_pb2.Pod) -> tuple[bool, bool]:
    """(the set owns the claim, the pod owns it) under the set's policy (``claimOwnerMatchesSetAndPod``)."""
    when_deleted, when_scaled = retention(sts)
    scaled_down = not in_range(sts, pod)
    set_owns = when_deleted == "Delete" and not (when_scaled == "Delete" and scaled_down)
    pod_owns = when_scaled == "Delete" and scaled_down
    return set_owns, pod_owns


def claim_matches_policy(sts: apps_pb2.StatefulSet, claim: core_pb2.PersistentVolumeClaim,
                         pod: core_pb2.Pod) -> bool:
    set_owns, pod_owns = wanted_owners(sts, pod)
    return (_owned_by(claim, sts.metadata.uid) == set_owns
            and (not pod.metadata.uid or _owned_by(claim, pod.metadata.uid) == pod_owns))


def set_claim_owners(sts: apps_pb2.StatefulSet, claim: core_pb2.PersistentVolumeClaim, pod: core_pb2.Pod) -> None:
    """``updateClaimOwnerRefForSetAndPod``: the set's and the pod's references as the policy wants."""
    set_owns, pod_owns = wanted_owners(sts, pod)
    refs = [r for r in claim.metadata.owner_references if r.uid not in (sts.metadata.uid, pod.metadata.uid)]
    if set_owns:
        refs.append(meta_pb2.OwnerReference(api_version="apps/v1", kind="StatefulSet", name=sts.metadata.name,
                                            uid=sts.metadata.uid))
    if pod_owns and pod.metadata.uid:
        refs.append(meta_pb2.OwnerReference(api_version="v1", kind="Pod", name=pod.metadata.name,
                                            uid=pod.metadata.uid))
    del claim.metadata.owner_references[:]
    claim.metadata.owner_references.extend(refs)


def claim_is_stale(claim: core_pb2.PersistentVolumeClaim, pod: core_pb2.Pod) -> bool:
    """The claim belongs to an earlier pod of the same name (``hasStaleOwnerRef``): wait for it to go."""
    return any(ref.kind == "Pod" and ref.name == pod.metadata.name and ref.uid != pod.metadata.uid
               for ref in claim.metadata.owner_references)

