"""The scheduler's gRPC service (Explain) and how the leader advertises it.

Explain answers from the scheduler's own cache and framework, so it shows exactly what the next
cycle would decide. The leader publishes where it serves in the Endpoints object
``kube-system/kube-scheduler``; the apiserver proxies Explain there, so ``skiffctl
explain-schedule`` only ever needs the apiserver's address.
"""

from __future__ import annotations

import contextlib
from typing import Any

import grpc

from scheduler.framework.runtime import Explanation
from scheduler.framework.status import Status
from scheduler.scheduler import Scheduler
from skiff.api import errors
from skiff.api.v1 import core_pb2, scheduler_pb2_grpc
from skiff.api.v1 import scheduler_pb2 as pb
from skiff.client.client import Client

ENDPOINTS_NAMESPACE = "kube-system"
ENDPOINTS_NAME = "kube-scheduler"


def _verdict(plugin: str, status: Status) -> pb.PluginVerdict:
    names = {0: "Success", 1: "Error", 2: "Unschedulable", 3: "UnschedulableAndUnresolvable", 4: "Wait", 5: "Skip"}
    return pb.PluginVerdict(plugin=plugin, code=names[int(status.code)], reasons=list(status.reasons))


def to_response(key: str, explanation: Explanation, identity: str) -> pb.ExplainResponse:
    response = pb.ExplainResponse(pod=key, winner=explanation.winner, message=explanation.message,
                                  scheduler=identity)
    response.prefilter.extend(_verdict(p, s) for p, s in explanation.prefilter)
    for node in explanation.nodes:
        verdict = response.nodes.add(node=node.node, feasible=node.feasible, total=node.total)
        verdict.filters.extend(_verdict(p, s) for p, s in node.filters)
        for plugin, (score, weighted) in node.scores.items():
            verdict.scores.add(plugin=plugin, score=score, weighted=weighted)
    return response


class SchedulerServicer(scheduler_pb2_grpc.SchedulerServicer):
    def __init__(self, scheduler: Scheduler, identity: str) -> None:
        self.scheduler = scheduler
        self.identity = identity

    async def Explain(self, request: pb.ExplainRequest, context: Any) -> pb.ExplainResponse:
        namespace = request.namespace or "default"
        try:
            explanation = self.scheduler.explain(namespace, request.name)
        except errors.NotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
            raise
        return to_response(f"{namespace}/{request.name}", explanation, self.identity)


async def advertise(client: Client, host: str, port: int) -> None:
    """Point kube-system/kube-scheduler at this scheduler's Explain service."""
    endpoints = core_pb2.Endpoints()
    endpoints.metadata.name, endpoints.metadata.namespace = ENDPOINTS_NAME, ENDPOINTS_NAMESPACE
    subset = endpoints.subsets.add()
    subset.addresses.add(ip=host)
    subset.ports.add(name="grpc", port=port, protocol="TCP")
    try:
        current = await client.get(core_pb2.Endpoints, ENDPOINTS_NAME, namespace=ENDPOINTS_NAMESPACE)
    except errors.NotFound:
        with contextlib.suppress(errors.AlreadyExists):
            await client.create(endpoints)
        return
    endpoints.metadata.resource_version = current.metadata.resource_version
    with contextlib.suppress(errors.Conflict):
        await client.update(endpoints)
