"""The Scheduler service on the apiserver: Explain, proxied to the leading scheduler.

The leader keeps the Endpoints object ``kube-system/kube-scheduler`` pointing at its own Explain
service; the apiserver reads it and relays the call, so a client needs only the apiserver's
address. No scheduler running (or none advertised) is ServiceUnavailable with a message that
says so; errors the scheduler answers (an unknown pod) pass through.
"""

from __future__ import annotations

import time
from typing import Any

import grpc

from apiserver.registry.api import Registry
from apiserver.server import metrics
from apiserver.server.resources import _abort
from skiff.api import errors
from skiff.api.v1 import scheduler_pb2 as pb
from skiff.api.v1 import scheduler_pb2_grpc

ENDPOINTS_NAMESPACE = "kube-system"
ENDPOINTS_NAME = "kube-scheduler"


class SchedulerProxyServicer(scheduler_pb2_grpc.SchedulerServicer):
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def _endpoint(self) -> str:
        try:
            endpoints: Any = await self.registry.store("endpoints").get(ENDPOINTS_NAMESPACE, ENDPOINTS_NAME)
        except errors.NotFound:
            raise errors.ServiceUnavailable("no scheduler is running (kube-system/kube-scheduler has no "
                                            "endpoint); start one with `skiff scheduler`") from None
        for subset in endpoints.subsets:
            if subset.addresses and subset.ports:
                return f"{subset.addresses[0].ip}:{subset.ports[0].port}"
        raise errors.ServiceUnavailable("the scheduler's endpoint (kube-system/kube-scheduler) is empty")

    async def Explain(self, request: pb.ExplainRequest, context: Any) -> pb.ExplainResponse:
        start = time.perf_counter()
        code = 200
        try:
            endpoint = await self._endpoint()
            async with grpc.aio.insecure_channel(endpoint) as channel:
                try:
                    return await scheduler_pb2_grpc.SchedulerStub(channel).Explain(request, timeout=30)
                except grpc.aio.AioRpcError as exc:
                    if exc.code() == grpc.StatusCode.NOT_FOUND:
                        raise errors.NotFound(exc.details() or "not found") from None
                    raise errors.ServiceUnavailable(
                        f"the scheduler at {endpoint} did not answer: {exc.details()}") from None
        except errors.StatusError as exc:
            code = exc.code
            await _abort(context, exc)
            raise
        finally:
            metrics.REQUESTS.labels("GET", "pods/schedule-explanation", str(code)).inc()
            metrics.REQUEST_DURATION.labels("GET", "pods/schedule-explanation").observe(time.perf_counter() - start)
