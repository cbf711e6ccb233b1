"""A container's ``log`` file in the CRI log format: written by its shim, read by the runtime.

Each line is ``<RFC3339 time> <stream> <F|P> <text>``: the time the shim read the output, ``stdout``
or ``stderr``, and ``F`` for a full line (the container wrote a newline, which is not stored) or
``P`` for a part of one (a line longer than ``MAX_LOG_LINE``, or output without a final newline).
The shim feeds the output in chunks as it reads them (so that attached clients get them at once, see
``attach``) and appends whole lines only, one at a time; a reader may still see the last line half
written. A line is cut as ``readline(MAX_LOG_LINE)`` would cut it.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

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
        self._pending: dict[str, bytes] = {}

    def feed(self, stream: str, data: bytes) -> None:
        """Output as read from ``stream``: its complete lines go to the log, the rest waits."""
        pending = self._pending.get(stream, b"") + data
        while True:
            cut = pending.find(b"\n", 0, MAX_LOG_LINE)
            if cut >= 0:
                self._write(stream, pending[:cut], full=True)
                pending = pending[cut + 1:]
            elif len(pending) >= MAX_LOG_LINE:
                self._write(stream, pending[:MAX_LOG_LINE], full=False)
                pending = pending[MAX_LOG_LINE:]
            else:
                break
        self._pending[stream] = pending

    def end(self, stream: str) -> None:
        """``stream`` is closed: what is left of its last line goes to the log as a part."""
        pending = self._pending.pop(stream, b"")
        if pending:
            self._write(stream, pending, full=False)

    def _write(self, stream: str, text: bytes, *, full: bool) -> None:
        line = f"{rfc3339_micro(time.time())} {stream} {'F' if full else 'P'} ".encode() + text + b"\n"
        with self._lock:
            self._file.write(line)
