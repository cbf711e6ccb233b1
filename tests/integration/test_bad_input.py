"""Bad input, thrown at a real apiserver by hypothesis: random and malformed manifests for every
kind, on Create and on Update. The server must answer each with an error that names the problem —
never an internal error, never a crash — and must store nothing of a refused write."""

from __future__ import annotations

import asyncio
import copy
import itertools
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import any_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skiff.api import errors, kinds
from skiff.api.manifest import ManifestError, from_manifest
from skiff.api.v1 import resources_pb2 as pb
from skiff.client.client import Client
from tests.integration.conftest import EtcdProcess
from tests.support.cluster import running_apiserver
from tests.support.samples import SAMPLES

SERVER_FAULTS = (errors.InternalError, errors.ServiceUnavailable)
_NAMES = itertools.count(1)


class Loop:
    """An apiserver and a client on an event loop in a thread, driven from sync hypothesis tests."""

    def __init__(self, etcd_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._cm = running_apiserver(etcd_url)
        server = self.run(self._cm.__aenter__())
        self.client: Client = self.run(_make_client(server.port))

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def close(self) -> None:
        self.run(self.client.close())
        self.run(self._cm.__aexit__(None, None, None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


async def _make_client(port: int) -> Client:
    return Client(f"127.0.0.1:{port}", timeout=10)


@pytest.fixture(scope="module")
def api() -> Iterator[Loop]:
    if shutil.which("etcd") is None:
        pytest.skip("etcd binary not found")
    root = Path(tempfile.mkdtemp(prefix="skiff-fuzz-"))
    etcd = EtcdProcess(root / "data")
    etcd.start()
    loop = Loop(etcd.url)
    try:
        yield loop
    finally:
        loop.close()
        etcd.close()
        shutil.rmtree(root, ignore_errors=True)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out += _paths(value, (*prefix, i))
    return out


@st.composite
def mutated_manifest(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(SAMPLES)))
    doc = copy.deepcopy(SAMPLES[kind])
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p[0] not in ("apiVersion", "kind")]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(json_values)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = draw(json_values)
    meta = doc.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("name"), str):
        meta["name"] = f"fz-{next(_NAMES)}"  # never reuse a name: each example stands alone
    return doc


def _assert_clean_refusal(exc: errors.StatusError) -> None:
    assert not isinstance(exc, SERVER_FAULTS), f"server fault: {exc!r}"
    assert str(exc).strip(), "an error without a message"


def _stored(api: Loop, kind: kinds.Kind, name: str) -> Any:
    try:
        return api.run(api.client.get(kind.message, name, namespace="default" if kind.namespaced else None))
    except errors.NotFound:
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(doc=mutated_manifest())
def test_malformed_creates_are_refused_cleanly(api: Loop, doc: dict[str, Any]) -> None:
    try:
        obj = from_manifest(doc)
    except ManifestError as exc:
        assert "decoding" in str(exc) or "validating" in str(exc) or "mapping" in str(exc)
        return
    kind = kinds.of(obj)
    name = obj.metadata.name  # type: ignore[attr-defined]
    try:
        api.run(api.client.create(obj))
    except errors.StatusError as exc:
        _assert_clean_refusal(exc)
        if isinstance(exc, errors.Invalid):
            assert " is invalid: " in str(exc)
        if name and not isinstance(exc, errors.AlreadyExists):
            assert _stored(api, kind, name) is None, "a refused create left an object behind"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(doc=mutated_manifest())
def test_malformed_updates_leave_the_stored_object_untouched(api: Loop, doc: dict[str, Any]) -> None:
    try:
        obj = from_manifest(doc)
    except ManifestError:
        return
    kind = kinds.of(obj)
    name = obj.metadata.name  # type: ignore[attr-defined]
    base = from_manifest(copy.deepcopy(SAMPLES[kind.kind]))
    base.metadata.name = name  # type: ignore[attr-defined]
    if kind.kind == "Namespace" or not name:
        return  # namespaces: covered by the CRUD tests; no name: nothing to update
    try:
        before = api.run(api.client.create(base))
    except errors.AlreadyExists:
        before = _stored(api, kind, name)
    obj.metadata.ClearField("resource_version")  # type: ignore[attr-defined]
    try:
        api.run(api.client.update(obj))
    except errors.StatusError as exc:
        _assert_clean_refusal(exc)
        after = _stored(api, kind, name)
        assert after == before, "a refused update changed the stored object"


def test_undecodable_payloads_are_bad_requests(api: Loop) -> None:
    stub = api.client._stub
    garbage = any_pb2.Any(type_url="type.googleapis.com/skiff.api.v1.Pod", value=b"\xff\xff\xff\x01garbage")
    with pytest.raises(errors.BadRequest):
        api.run(api.client._unary(stub.Create, pb.CreateRequest(resource="pods", namespace="default",
                                                                 object=garbage)))
    wrong = any_pb2.Any(type_url="type.googleapis.com/skiff.api.v1.Service", value=b"")
    with pytest.raises(errors.BadRequest, match="does not match the resource"):
        api.run(api.client._unary(stub.Create, pb.CreateRequest(resource="pods", namespace="default", object=wrong)))
    with pytest.raises(errors.NotFound, match="doesn't have a resource type"):
        api.run(api.client._unary(stub.Get, pb.GetRequest(resource="widgets", name="x")))
