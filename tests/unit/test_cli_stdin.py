"""skiffctl's stdin for exec / attach / run -i: a pipe, a file, or /dev/null (which epoll cannot watch)."""

from __future__ import annotations

import os
from pathlib import Path

from skiff import aio
from skiff.cli.commands.logs import stdin_chunks


async def _read_all(fd: int) -> bytes:
    async def read() -> bytes:
        return b"".join([chunk async for chunk in stdin_chunks(fd)])

    return await aio.wait_for(read(), 10)  # /dev/null watched by epoll never ended


async def test_dev_null_is_an_empty_stdin() -> None:
    fd = os.open(os.devnull, os.O_RDONLY)
    try:
        assert await _read_all(fd) == b""
    finally:
        os.close(fd)


async def test_a_file_and_a_pipe_are_read_to_the_end(tmp_path: Path) -> None:
    path = tmp_path / "input"
    path.write_bytes(b"from a file\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert await _read_all(fd) == b"from a file\n"
    finally:
        os.close(fd)
    read_end, write_end = os.pipe()
    os.write(write_end, b"through a pipe\n")
    os.close(write_end)
    try:
        assert await _read_all(read_end) == b"through a pipe\n"
    finally:
        os.close(read_end)
