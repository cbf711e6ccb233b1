"""The process runtime: each container's command runs as a host process (the embedded default).

There are no images: a container needs a command (a ``pause`` image runs ``sleep infinity``). As
root, each pod gets its own network namespace on a host bridge, each container a private mount
namespace with its mounts and a cgroup with its limits; without root, pods share the host network
and mounts and limits are not applied. A shim process per container starts the command, logs its
output and records its exit, and outlives the kubelet: a restarted kubelet adopts its containers
from the files the runtime and the shims keep under ``root_dir``.

Modules:

- ``runtime``: ProcessRuntime, the ContainerRuntime that composes the others.
- ``state``: the records on disk under ``root_dir`` (layout, atomic JSON files).
- ``host``: root or not; whether a recorded process (pid + /proc start time) still lives.
- ``network``: pod network namespaces, the ``skiff0`` bridge, veth pairs, host-wide IP leases.
- ``cgroups``: per-container cgroups (v2 or v1) for memory/cpu limits and OOMKilled.
- ``shim``: the per-container shim process and its start-up handshake with the runtime.
- ``namespaces``: what the shim does to join the pod's netns and set up the container's mounts.
- ``logfile``: the CRI log format of a container's ``log``: the shim's writer, the runtime's parser.
- ``exec``: exec through ``nsenter``, and the streaming exec session.
- ``attach``: the shim's attach socket (wire format, the shim's server, the runtime's session).
- ``__main__``: ``python -m kubelet.runtime.process shim <dir>``, how the runtime starts a shim.
"""

from kubelet.runtime.process.attach import ProcessAttachSession
from kubelet.runtime.process.cgroups import Cgroups
from kubelet.runtime.process.exec import ProcessExecSession
from kubelet.runtime.process.host import proc_start_ticks
from kubelet.runtime.process.logfile import parse_log_line
from kubelet.runtime.process.network import PodNet, PodNetwork
from kubelet.runtime.process.runtime import ProcessRuntime
from kubelet.runtime.process.shim import shim_main

__all__ = ["Cgroups", "PodNet", "PodNetwork", "ProcessAttachSession", "ProcessExecSession", "ProcessRuntime",
           "parse_log_line", "proc_start_ticks", "shim_main"]
