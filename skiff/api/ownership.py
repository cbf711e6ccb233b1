"""Owner references: who controls an object, read and written the one way (Kubernetes' ``metav1`` helpers).

An object may list several owners in ``metadata.ownerReferences``; at most one of them is its
*controller* (``controller: true``): the ReplicaSet of a pod, the Deployment of a ReplicaSet.
Everything here identifies an owner by **uid**, never by name alone: a name reused by a new
object after a deletion is another object, and a reference to the old one does not point at it.

* :func:`controller_ref` is the reference a controller puts on what it creates or adopts
  (``metav1.NewControllerRef``): apiVersion and kind from the kinds registry, ``controller`` and
  ``blockOwnerDeletion`` set, so a foreground deletion of the owner waits for its dependents.
* :func:`controller_of` finds an object's controller reference (``metav1.GetControllerOf``),
  :func:`is_controlled_by` asks whether that reference names a given owner
  (``metav1.IsControlledBy``), and :func:`refers_to` whether a reference names an object.
* :func:`resolve_controller_ref` turns a controller reference back into the owner a controller
  caches (its ``resolveControllerRef``): the reference must be of the expected kind, and the
  object found under its name must carry its uid. The lookup is any ``key -> object | None``
  callable — an informer store's ``get`` — given the store key ``namespace/name``.

Pure functions over protobuf objects: controllers and skiffctl share them, and nothing here
talks to the apiserver.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from skiff.api import kinds
from skiff.api.v1 import meta_pb2

__all__ = ["Object", "controller_of", "controller_ref", "is_controlled_by", "refers_to", "resolve_controller_ref"]


class Object(Protocol):
    """Any API object: ownership lives in its metadata."""

    @property
    def metadata(self) -> meta_pb2.ObjectMeta: ...


T = TypeVar("T", bound=Object)


def controller_ref(owner: Any) -> meta_pb2.OwnerReference:
    """The controller ownerReference to ``owner`` that goes on what it creates or adopts."""
    kind = kinds.of(owner)
    return meta_pb2.OwnerReference(api_version=kind.api_version, kind=kind.kind, name=owner.metadata.name,
                                   uid=owner.metadata.uid, controller=True, block_owner_deletion=True)


def controller_of(obj: Object) -> meta_pb2.OwnerReference | None:
    """The ownerReference with ``controller: true``, if any (the first, should there be several)."""
    return next((ref for ref in obj.metadata.owner_references if ref.controller), None)


def refers_to(ref: meta_pb2.OwnerReference | None, obj: Object | None) -> bool:
    """``ref`` names this very object: the same uid."""
    return ref is not None and obj is not None and ref.uid == obj.metadata.uid


def is_controlled_by(obj: Object, owner: Object) -> bool:
    """``obj``'s controller reference names ``owner``."""
    return refers_to(controller_of(obj), owner)


def resolve_controller_ref(namespace: str, ref: meta_pb2.OwnerReference | None, kind: str,
                           lookup: Callable[[str], T | None]) -> T | None:
    """The ``kind`` object that ``ref`` (a controller reference found in ``namespace``) points at.

    None when there is no reference, it names another kind, ``lookup`` has nothing under its name,
    or what it has carries another uid (the owner was replaced by a namesake).
    """
    if ref is None or ref.kind != kind:
        return None
    found = lookup(f"{namespace}/{ref.name}" if namespace else ref.name)
    return found if refers_to(ref, found) else None
