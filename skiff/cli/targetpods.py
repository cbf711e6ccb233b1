"""The pods a ``POD`` or ``TYPE/NAME`` argument means, for ``logs``, ``exec`` and ``port-forward``.

``web`` and ``pod/web`` are that pod. A workload or a Service (``deploy/``, ``rs/``, ``sts/``,
``ds/``, ``job/``, ``svc/``: ``SELECTING_KINDS``) names its pods through its selector
(``selector_of``), and they are taken best first in kubectl's ActivePods order (``best_first``):
bound to a node, then Running, then ready, then the oldest. ``pods_of_selector`` lists them and,
while they are not yet what the verb needs — some pod for ``logs`` and ``exec``, a running first
one for ``port-forward`` — follows them (skiff.cli.following) for up to the verb's
``--pod-running-timeout``. Each verb keeps its own checks and messages around these.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import Any, cast

from google.protobuf.message import Message

from skiff.api import kinds
from skiff.api.labels import selector_from_proto, selector_from_set
from skiff.api.v1 import core_pb2
from skiff.cli.context import UsageError
from skiff.cli.following import TIMED_OUT, selected
from skiff.cli.resources import kind_named
from skiff.client.client import Client

__all__ = ["SELECTING_KINDS", "best_first", "pods_of_selector", "selector_of", "split_target"]

SELECTING_KINDS = ("ReplicaSet", "Deployment", "StatefulSet", "DaemonSet", "Job", "Service")
"""The kinds whose pods ``logs``, ``exec`` and ``port-forward`` find through their selector."""
_PHASE_RANK = {"Running": 0, "Unknown": 1, "Pending": 2}


def split_target(target: str) -> tuple[kinds.Kind, str]:
    """``web`` (a pod), ``pod/web``, ``deploy/web``: the kind and the name."""
    type_name, name = target.split("/", 1) if "/" in target else ("pods", target)
    return kind_named(type_name), name


def selector_of(obj: Message) -> str:
    """The label selector of a workload or Service, as ``-l`` text."""
    spec: Any = obj.spec  # type: ignore[attr-defined]
    selector = spec.selector
    if isinstance(selector, str) or not hasattr(selector, "match_labels"):
        return str(selector_from_set(dict(selector)))
    if not selector.match_labels and not selector.match_expressions and hasattr(spec, "template"):
        return str(selector_from_set(dict(spec.template.metadata.labels)))
    return str(selector_from_proto(selector))


def _ready(pod: core_pb2.Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions)


def _activity(pod: core_pb2.Pod) -> tuple[int, int, int, str]:
    return (0 if pod.spec.node_name else 1, _PHASE_RANK.get(pod.status.phase, 3), 0 if _ready(pod) else 1,
            pod.metadata.creation_timestamp)


def best_first(pods: Iterable[core_pb2.Pod]) -> list[core_pb2.Pod]:
    """kubectl's preference among a workload's pods: assigned, running, ready, then oldest."""
    return sorted(pods, key=_activity)


async def pods_of_selector(client: Client, namespace: str, selector: str, timeout: float, *,
                           enough: Callable[[list[core_pb2.Pod]], bool] = bool) -> list[core_pb2.Pod]:
    """The pods of ``selector``, best first, as soon as they are ``enough`` (by default: there is
    one), following them for up to ``timeout`` seconds; after that, those there are, and kubectl's
    ``error: timed out waiting for the condition`` when there are none."""
    pods: list[core_pb2.Pod] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            changes = selected(client, kinds.of(core_pb2.Pod), namespace=namespace, label_selector=selector)
            async with contextlib.aclosing(changes):
                async for found in changes:
                    pods = best_first(cast(list[core_pb2.Pod], found))
                    if enough(pods):
                        return pods
    if not pods:
        raise UsageError(f"error: {TIMED_OUT}")
    return pods
