"""The kubelet's two backoffs on a fake clock: the crash loop (first restart at once, then 10, 20,
40 s … up to the maximum, reset after a long run) and image pulls (every failure waits)."""

from __future__ import annotations

from kubelet.backoff import Backoff
from skiff.client.clock import FakeClock

KEY = "uid/app"


def crash_loop_waits(backoff: Backoff, clock: FakeClock, crashes: int) -> list[float]:
    """The hold before each restart of a container that crashes as soon as it starts."""
    waits = []
    for _ in range(crashes):
        hold = backoff.crashed(KEY, ran_for=0.1)
        waits.append(hold)
        clock.advance(hold)
        assert backoff.remaining(KEY) == 0.0
        backoff.restarting(KEY, ran_for=0.1)
    return waits


def test_the_first_crash_restarts_at_once_then_the_window_doubles_to_the_maximum() -> None:
    clock = FakeClock(start=0.0)
    backoff = Backoff(initial=10.0, maximum=40.0, clock=clock.now)
    assert crash_loop_waits(backoff, clock, 6) == [0.0, 10.0, 20.0, 40.0, 40.0, 40.0]


def test_a_hold_counts_down_on_the_clock_and_names_its_window() -> None:
    clock = FakeClock(start=0.0)
    backoff = Backoff(initial=10.0, clock=clock.now)
    backoff.crashed(KEY, ran_for=1.0)
    backoff.restarting(KEY, ran_for=1.0)
    assert backoff.crashed(KEY, ran_for=1.0) == 10.0
    clock.advance(4.0)
    assert backoff.remaining(KEY) == 6.0 and backoff.current(KEY) == 10.0


def test_a_long_run_before_the_crash_starts_over() -> None:
    clock = FakeClock(start=0.0)
    backoff = Backoff(initial=10.0, reset_after=600.0, clock=clock.now)
    crash_loop_waits(backoff, clock, 3)
    assert backoff.crashed(KEY, ran_for=600.0) == 0.0
    backoff.restarting(KEY, ran_for=600.0)
    assert backoff.crashed(KEY, ran_for=1.0) == 10.0


def test_every_failed_pull_waits_and_doubles() -> None:
    clock = FakeClock(start=0.0)
    backoff = Backoff(initial=10.0, maximum=40.0, clock=clock.now)
    assert [backoff.failed("pull") for _ in range(4)] == [10.0, 20.0, 40.0, 40.0]
