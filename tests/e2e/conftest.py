"""End-to-end fixtures: a control plane of real processes shared by a test module, and a fresh
namespace per test so tests do not see each other's objects."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.support.processes import ControlPlane


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    if shutil.which("etcd") is None:
        pytest.skip("etcd binary not found")
    cp = ControlPlane()
    cp.start()
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture
def ns(plane: ControlPlane) -> str:
    """A namespace of this test's own."""
    return plane.new_namespace()
