"""A bare gRPC relay: the floor under bench/api_create.py's API figures.

It serves skiff's ``Resources.Create`` with no logic at all: read the Pod's name from the
request, store the request's bytes with one create-if-absent etcd transaction (the same one the
apiserver sends), return the object unchanged. No defaulting, validation, metadata, watch cache,
metrics or error mapping. What it reaches on a machine is what any Python ``grpc.aio`` server in
front of etcd reaches there, so api_create prints the apiserver's rate beside it: the share of
that ceiling the apiserver keeps is what its own work costs.

Run by api_create.py as ``python bench/relay.py --etcd HOST:PORT --port PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import grpc

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "/relaybench/pods/"


async def serve(etcd: str, port: int) -> None:
    from aetcd import rpc
    from aetcd.rpc import rpc_pb2_grpc

    from skiff.api.v1 import core_pb2, resources_pb2_grpc

    channel = grpc.aio.insecure_channel(etcd)
    kv = rpc_pb2_grpc.KVStub(channel)

    class Relay(resources_pb2_grpc.ResourcesServicer):
        async def Create(self, request: Any, context: Any) -> Any:  # noqa: N802 - the gRPC method name
            name = core_pb2.Pod.FromString(request.object.value).metadata.name
            key = f"{PREFIX}{request.namespace}/{name}".encode()
            txn = rpc.TxnRequest(
                compare=[rpc.Compare(key=key, result=rpc.Compare.EQUAL, target=rpc.Compare.MOD, mod_revision=0)],
                success=[rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=request.object.value))])
            response = await kv.Txn(txn, timeout=10)
            if not response.succeeded:
                await context.abort(grpc.StatusCode.ALREADY_EXISTS, f"{name} already exists")
            return request.object

    server = grpc.aio.server()
    resources_pb2_grpc.add_ResourcesServicer_to_server(Relay(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--etcd", required=True, help="etcd client address HOST:PORT")
    p.add_argument("--port", type=int, required=True)
    a = p.parse_args()
    sys.path.insert(0, str(ROOT))
    asyncio.run(serve(a.etcd, a.port))


if __name__ == "__main__":
    main()
