"""metrics.k8s.io through the apiserver's ``Metrics`` service: what ``skiffctl top`` reads.

:func:`node_metrics` and :func:`pod_metrics` return the NodeMetrics / PodMetrics messages
(metrics.proto), sorted as the server sorts them. One name gives one item or NotFound
(``nodemetrics.metrics.k8s.io "n1" not found``; ``nodes "n1" not found`` when there is no such
node); no name lists what matches the selectors, possibly nothing. An apiserver that does not
serve the Metrics service at all raises :class:`MetricsAPINotAvailable`, kubectl's
``Metrics API not available``; every other error is the StatusError every client call raises.
"""

from __future__ import annotations

from typing import Any

import grpc

from skiff.api import errors
from skiff.api.v1 import metrics_pb2 as pb
from skiff.api.v1 import metrics_pb2_grpc
from skiff.client.client import Client, status_error


class MetricsAPINotAvailable(errors.ServiceUnavailable):
    """The apiserver does not serve the Metrics service."""

    def __init__(self, message: str = "Metrics API not available") -> None:
        super().__init__(message)


async def _call(client: Client, method: Any, request: Any) -> Any:
    try:
        return await method(request, timeout=client.timeout)
    except grpc.aio.AioRpcError as exc:
        reasons = [v for k, v in exc.trailing_metadata() or () if k == errors.REASON_METADATA_KEY]
        if exc.code() == grpc.StatusCode.UNIMPLEMENTED and not reasons:
            raise MetricsAPINotAvailable() from None
        raise status_error(exc, client.server) from None


async def node_metrics(client: Client, name: str = "", *, label_selector: str = "") -> list[pb.NodeMetrics]:
    """The NodeMetrics of one node, or of every node matching ``label_selector``."""
    stub = metrics_pb2_grpc.MetricsStub(client.channel)
    request = pb.NodeMetricsRequest(name=name, label_selector=label_selector)
    response = await _call(client, stub.ListNodeMetrics, request)
    return list(response.items)


async def pod_metrics(client: Client, namespace: str = "", name: str = "", *, label_selector: str = "",
                      field_selector: str = "") -> list[pb.PodMetrics]:
    """The PodMetrics of one pod, or of the pods matching the selectors (``namespace`` "": all)."""
    stub = metrics_pb2_grpc.MetricsStub(client.channel)
    request = pb.PodMetricsRequest(namespace=namespace, name=name, label_selector=label_selector,
                                   field_selector=field_selector)
    response = await _call(client, stub.ListPodMetrics, request)
    return list(response.items)
