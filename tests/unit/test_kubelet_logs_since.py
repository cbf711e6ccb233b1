"""The kubelet's log request → the moment the log starts after (kubelet/server.py ``_since``)."""

from __future__ import annotations

import time

from kubelet.server import _since
from skiff.api.v1 import node_pb2 as pb


def test_since_time_is_the_moment_and_since_seconds_counts_back_from_now() -> None:
    assert _since(pb.LogsRequest(since_time="2026-11-27T16:53:07.250000Z")) == 1795798387.25
    before = time.time()
    since = _since(pb.LogsRequest(since_seconds=60))
    assert since is not None and before - 60 <= since <= time.time() - 60
    assert _since(pb.LogsRequest()) is None
    assert _since(pb.LogsRequest(since_time="not a time")) is None  # unparseable: the whole log
