"""The kubelet runs its backoff, probes, pod workers and pod sync on the one clock it is given."""

from __future__ import annotations

from pathlib import Path

from kubelet.kubelet import Kubelet, KubeletSettings
from kubelet.node import NodeSettings
from kubelet.runtime.fake import FakeRuntime
from skiff.client.client import Client
from skiff.client.clock import FakeClock


async def test_every_part_of_the_kubelet_keeps_time_on_the_injected_clock(tmp_path: Path) -> None:
    clock = FakeClock(start=100.0)
    settings = KubeletSettings(node=NodeSettings(name="n1", ip="10.0.0.1", port=10250, capacity={"cpu": "1"}),
                               root_dir=tmp_path, backoff_initial=10.0)
    client = Client("127.0.0.1:1")
    try:
        kubelet = Kubelet(client, FakeRuntime(node_name="n1"), settings, clock=clock)
        assert kubelet.probes.clock is clock and kubelet.syncer.clock is clock and kubelet.workers.clock is clock
        backoff = kubelet.syncer.backoff
        assert backoff.failed("default/web/app") == 10.0
        clock.advance(9.5)
        assert backoff.remaining("default/web/app") == 0.5  # the fake clock moved, the real one did not count
        clock.advance(0.5)
        assert backoff.remaining("default/web/app") == 0.0
    finally:
        await client.close()
