"""A container's ``log`` file in the CRI log format: written by its shim, read by the runtime.

Each line is ``<RFC3339 time> <stream> <F|P> <text>``: the time the shim read the output, ``stdout``
or ``stderr``, and ``F`` for a full line (the container wrote a newline, which is not stored) or
``P`` for a part of one (a line longer than ``MAX_LOG_LINE``, or output without a final newline).
The shim appends whole lines only, one at a time under a lock, since the command's stdout and stderr
are pumped by two threads; a reader may still see the last line half written.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import IO

from skiff.api.timestamps import epoch_seconds, rfc3339_micro

MAX_LOG_LINE = 16 * 1024




def parse_log_line(line: bytes) -> tuple[float, bytes, bytes] | None:
    """(time, stamp, text as written by the container) from one CRI log line."""
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3:
        return None
    try:
        at = epoch_seconds(parts[0].decode())
    except UnicodeDecodeError:
        return None
    if at is None:
        return None
    text = parts[3] if len(parts) == 4 else b""
    return at, parts[0], text + (b"\n" if parts[2] == b"F" else b"")


def render(parsed: tuple[float, bytes, bytes], timestamps: bool) -> bytes:
    """A parsed line as ``logs`` yields it: the container's text, after its stamp if ``timestamps``."""
    _, stamp, text = parsed
    return stamp + b" " + text if timestamps else text


class LogWriter:
    """The shim's side: appends the lines of the command's output streams to the log file."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - lives as long as the shim
        self._lock = threading.Lock()

    def pump(self, stream: str, pipe: IO[bytes]) -> None:
        for chunk in iter(lambda: pipe.readline(MAX_LOG_LINE), b""):
            full = chunk.endswith(b"\n")
            text = chunk[:-1] if full else chunk
            line = f"{rfc3339_micro(time.time())} {stream} {'F' if full else 'P'} ".encode() + text + b"\n"
            with self._lock:
                self._file.write(line)
