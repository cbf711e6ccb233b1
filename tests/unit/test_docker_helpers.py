"""The docker runtime's pure helpers: image references, engine times, state mapping, demultiplexing."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import AsyncIterator

import pytest

from kubelet.runtime.docker import _demux, container_state, docker_time, object_name, parse_image, pause_rootfs_tar
from kubelet.runtime.interface import ImageError, State


@pytest.mark.parametrize(("image", "expected"), [
    ("busybox", ("busybox", "latest")),
    ("busybox:1.36", ("busybox", "1.36")),
    ("localhost:5000/team/app:v2", ("localhost:5000/team/app", "v2")),
    ("Registry.Example.com/x/y", ("Registry.Example.com/x/y", "latest")),
    ("app:v1@sha256:" + "0" * 64, ("app", "sha256:" + "0" * 64)),
])
def test_parse_image(image: str, expected: tuple[str, str]) -> None:
    assert parse_image(image) == expected


@pytest.mark.parametrize("image", ["", "Busybox", "x/Y", "a b", "a:", ":tag", "a@sha256:short"])
def test_malformed_images_are_invalid_image_name(image: str) -> None:
    with pytest.raises(ImageError) as caught:
        parse_image(image)
    assert caught.value.reason == "InvalidImageName"


def test_docker_time() -> None:
    assert docker_time("0001-01-01T00:00:00Z") is None
    assert docker_time("") is None
    assert docker_time("1970-01-01T00:00:01.123456789Z") == pytest.approx(1.123456)
    assert docker_time("1970-01-01T01:00:02+01:00") == 2.0


@pytest.mark.parametrize(("state", "expected"), [
    ({"Status": "created"}, (State.CREATED, None, "")),
    ({"Status": "running"}, (State.RUNNING, None, "")),
    ({"Status": "exited", "ExitCode": 0}, (State.EXITED, 0, "Completed")),
    ({"Status": "exited", "ExitCode": 2}, (State.EXITED, 2, "Error")),
    ({"Status": "exited", "ExitCode": 137, "OOMKilled": True}, (State.EXITED, 137, "OOMKilled")),
    ({"Status": "dead", "ExitCode": 1}, (State.EXITED, 1, "Error")),
    ({"Status": "??"}, (State.UNKNOWN, None, "")),
])
def test_container_state(state: dict[str, object], expected: tuple[State, int | None, str]) -> None:
    assert container_state(state) == expected


def test_object_name() -> None:
    assert object_name("default", "web", "nginx", 3, "0a1b2c3d-4e5f") == "skiff_default_web_nginx_3_0a1b2c3d"


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _frame(stream: int, payload: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


async def test_demux_reassembles_frames_split_across_reads() -> None:
    wire = _frame(1, b"out\n") + _frame(2, b"err\n") + _frame(1, b"")
    parts = [wire[:3], wire[3:13], wire[13:]]
    assert [item async for item in _demux(_chunks(*parts), tty=False)] == [
        ("stdout", b"out\n"), ("stderr", b"err\n"), ("stdout", b"")]
    assert [item async for item in _demux(_chunks(b"raw", b"tty"), tty=True)] == [
        ("stdout", b"raw"), ("stdout", b"tty")]


@pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="no /bin/busybox (package busybox-static)")
def test_pause_rootfs_holds_only_busybox_and_tmp() -> None:
    names = tarfile.open(fileobj=io.BytesIO(pause_rootfs_tar())).getnames()
    assert sorted(names) == ["bin", "bin/busybox", "tmp"]
