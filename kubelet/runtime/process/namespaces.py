"""What a container's shim does to its own process before it starts the command: it joins the pod's
network namespace, unshares a private mount namespace with the container's mounts, and a UTS
namespace with the pod's hostname.

The shim enters the pod's netns (``setns`` on ``/run/netns/<name>``, see ``network``) and, as root,
unshares a mount namespace, makes it private and bind-mounts the container's mounts in it. There is
no chroot: the mounts' target paths are created on the host filesystem. The command inherits both
namespaces, and ``exec`` later enters them with ``nsenter``. Without root there is no mount
namespace, so ``mounts`` are not applied (the runtime logs a warning). A mount over a file
that exists binds over it without writing to it: the pod's resolv.conf goes over /etc/resolv.conf
this way, and the host's file is never changed (only a missing target is created, empty). As root, and unless the pod
uses the host's network, the shim also unshares a UTS namespace and sets the hostname to the pod's
(``spec.hostname``, else its name, at most 63 characters), so ``hostname`` in a container prints
what it prints in Kubernetes; ``exec`` enters it too. Each container has its own UTS namespace
with that same name (there is no pause process to hold one for the pod).
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
CLONE_NEWUTS = 0x04000000
MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18


def _libc_call(name: str, *args: Any) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if getattr(libc, name)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}{args!r}: {os.strerror(err)}")


def enter_namespaces(spec: dict[str, Any]) -> None:
    """Join the pod's netns; unshare a UTS namespace named for the pod, and a private mount
    namespace with the container's mounts."""
    if spec["netns_path"]:
        fd = os.open(spec["netns_path"], os.O_RDONLY)
        _libc_call("setns", fd, CLONE_NEWNET)
        os.close(fd)
    hostname = spec.get("hostname")
    if hostname:
        _libc_call("unshare", CLONE_NEWUTS)
        name = hostname.encode()
        _libc_call("sethostname", name, len(name))
    if not spec["mount_ns"]:
        return
    _libc_call("unshare", CLONE_NEWNS)
    _libc_call("mount", b"none", b"/", None, MS_REC | MS_PRIVATE, None)
    for mount in spec["mounts"]:
        source, target = mount["host_path"], mount["container_path"]
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        elif not os.path.lexists(target):  # an existing file (a host's /etc/resolv.conf) is left untouched
            os.makedirs(os.path.dirname(target) or "/", exist_ok=True)
            Path(target).touch()
        _libc_call("mount", source.encode(), target.encode(), None, MS_BIND | MS_REC, None)
        if mount["read_only"]:
            _libc_call("mount", b"none", target.encode(), None, MS_BIND | MS_REMOUNT | MS_RDONLY, None)
