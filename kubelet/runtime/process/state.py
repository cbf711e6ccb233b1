"""The process runtime's records on disk: everything it knows lives in files under ``root_dir``.

Layout under ``root_dir``::

    sandboxes/<sandbox id>.json      the pod: uid, IP, labels, network namespace, veth, resolv.conf path
    sandboxes/<sandbox id>.resolv.conf  the pod's DNS settings, when it has any (as root), that its
                                     containers' shims bind-mount read-only over /etc/resolv.conf
    containers/<id>/spec.json        what the shim runs: argv, env, cwd, uid, namespaces, cgroups, mounts,
                                     stdin / stdin_once / tty, the attach socket
    containers/<id>/state.json       pid, its /proc start time, shim pid, labels, start time
    containers/<id>/exit.json        exit code, signal, end time (written by the shim)
    containers/<id>/log              output in the CRI log format: "<RFC3339 time> <stream> <F|P> <text>"
    containers/<id>/attach.sock      the shim's attach socket (elsewhere when this path is too long:
                                     ``attach_socket`` in spec.json and state.json, see ``attach``)

The runtime writes the sandbox records, ``spec.json`` and ``state.json``; the container's shim
writes ``exit.json`` and ``log`` and serves (then removes) the attach socket. Because the shims
outlive the kubelet, a NEW ProcessRuntime on the same ``root_dir`` (a restarted kubelet) adopts
everything from these files. Records are written atomically, so a reader (the runtime, or a
restarted one) never sees half of one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_json(path: Path, value: dict[str, Any]) -> None:
    """Write atomically (temp file + rename) so a reader never sees half a record."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        value: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value
