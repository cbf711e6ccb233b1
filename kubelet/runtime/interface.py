"""The seam between the kubelet and whatever runs containers.

The kubelet decides *what* should run (from the pod spec, its restart policy and backoff, its
probes); a ContainerRuntime only does what it is told and reports what is: like Kubernetes' CRI,
a pod is a *sandbox* (the network namespace and identity its containers share) plus containers
started inside it. Every object a runtime creates carries the labels in ``LABEL_*`` (built by
:mod:`kubelet.runtime.labels`) so that a restarted kubelet can find (``list_sandboxes`` /
``list_containers``) and adopt what it started before, instead of restarting running pods. An
exited container's reason is Kubernetes' terminated reason, which :func:`terminated_reason`
decides for every runtime and for the pod status.

A sandbox may carry the pod's DNS resolver settings (:class:`DnsConfig`, which the kubelet works
out from the pod's dnsPolicy and dnsConfig, see :mod:`kubelet.dns`); the runtime makes them the
containers' ``/etc/resolv.conf``, as a CRI runtime does with ``PodSandboxConfig.dns_config``. The
value lives here, with the other things a runtime is given, so that runtimes never import the
kubelet's policy.

Errors: image problems raise :class:`ImageError` with Kubernetes' reason (ErrImagePull,
ErrImageNeverPull, InvalidImageName); anything else the runtime cannot do raises
:class:`RuntimeFailure` with a message fit for the pod's status.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

LABEL_POD_UID = "io.skiff.pod.uid"
LABEL_POD_NAME = "io.skiff.pod.name"
LABEL_POD_NAMESPACE = "io.skiff.pod.namespace"
LABEL_CONTAINER_NAME = "io.skiff.container.name"
LABEL_ATTEMPT = "io.skiff.container.attempt"
LABEL_NODE = "io.skiff.node"
LABEL_RUNTIME = "io.skiff.runtime"
"""Set by the kubelet on containers: the runtime's scheme in ``containerID`` (``docker://<id>``)."""


class ImageError(Exception):
    """An image that cannot be had; ``reason`` is Kubernetes' waiting reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class RuntimeFailure(Exception):
    """The runtime could not do what was asked (message goes into the pod's status)."""


@dataclass(frozen=True)
class Mount:
    host_path: str
    container_path: str
    read_only: bool = False


@dataclass(frozen=True)
class DnsConfig:
    """A pod's resolver settings (CRI's DNSConfig): what its ``/etc/resolv.conf`` says."""

    servers: tuple[str, ...] = ()
    """``nameserver`` lines, in order."""
    searches: tuple[str, ...] = ()
    """The ``search`` list, in order."""
    options: tuple[str, ...] = ()
    """The ``options`` line's entries (``ndots:5``, ``edns0``...)."""

    def render(self) -> str:
        """The resolv.conf text: one ``nameserver`` line per server, then ``search`` and ``options``
        lines when there are any (the order the kubelet's docker integration wrote them in); the
        empty string for an empty config."""
        lines = [f"nameserver {server}" for server in self.servers]
        if self.searches:
            lines.append("search " + " ".join(self.searches))
        if self.options:
            lines.append("options " + " ".join(self.options))
        return "".join(f"{line}\n" for line in lines)


@dataclass(frozen=True)
class SandboxConfig:
    pod_uid: str
    namespace: str
    name: str
    hostname: str
    labels: dict[str, str] = field(default_factory=dict)
    host_network: bool = False
    node_name: str = ""
    dns: DnsConfig | None = None
    """The pod's resolver settings. None, or a config that renders empty, leaves the containers'
    ``/etc/resolv.conf`` as the runtime makes it by default (containerd copies the host's then)."""


@dataclass(frozen=True)
class Sandbox:
    id: str
    pod_uid: str
    ip: str
    """The pod's IP (the node's IP for hostNetwork pods or where the runtime has no pod network)."""
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerConfig:
    name: str
    image: str
    command: list[str]
    """The pod's ``command`` (empty: the image's entrypoint)."""
    args: list[str]
    env: list[tuple[str, str]]
    working_dir: str = ""
    mounts: list[Mount] = field(default_factory=list)
    cpu_limit_millis: int | None = None
    memory_limit_bytes: int | None = None
    run_as_user: int | None = None
    stdin: bool = False
    """Keep the main process's stdin open for ``attach`` (the container's ``stdin: true``)."""
    stdin_once: bool = False
    """Close that stdin once the first attached client detaches (``stdinOnce: true``)."""
    tty: bool = False
    """Run the main process on a terminal (``tty: true``): one output stream, resizable."""
    attempt: int = 0
    """How many times this container has been started before (restartCount)."""
    labels: dict[str, str] = field(default_factory=dict)


class State(enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    EXITED = "exited"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    """The container's name in the pod spec."""
    pod_uid: str
    attempt: int
    state: State
    image: str = ""
    image_id: str = ""
    exit_code: int | None = None
    reason: str = ""
    """When exited: OOMKilled, Error or Completed (Kubernetes' terminated reasons, see
    :func:`terminated_reason`)."""
    message: str = ""
    started_at: float | None = None
    """Unix time."""
    finished_at: float | None = None
    labels: dict[str, str] = field(default_factory=dict)


def terminated_reason(exit_code: int, *, oom: bool = False) -> str:
    """Kubernetes' reason for a terminated container: OOMKilled when the kernel's OOM killer ended
    it (whatever the exit code), else Completed for exit code 0 and Error for any other."""
    if oom:
        return "OOMKilled"
    return "Completed" if exit_code == 0 else "Error"


@dataclass(frozen=True)
class ContainerStats:
    """What a running container has used: for ``skiffctl top`` (the kubelet turns the cumulative CPU
    time into a rate between two samples) and the kubelet's resource metrics."""

    cpu_usage_seconds: float
    """CPU time used since the container started, all cores together."""
    memory_working_set_bytes: int
    """Memory in use minus what the kernel can reclaim at once (usage - inactive_file), as cAdvisor
    and the kubelet define the working set."""


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    output: bytes


class ExecSession(Protocol):
    """A running exec: feed stdin, read stdout/stderr chunks, get the exit code."""

    async def write_stdin(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None: ...

    def output(self) -> AsyncIterator[tuple[str, bytes]]:
        """("stdout" | "stderr", chunk) until the command ends."""
        ...

    async def wait(self) -> int: ...

    async def resize(self, width: int, height: int) -> None: ...


@runtime_checkable
class ContainerRuntime(Protocol):
    name: str
    """``docker``, ``process`` or ``fake``."""

    async def version(self) -> str:
        """e.g. ``docker://28.2.2``, for node.status.nodeInfo.containerRuntimeVersion."""
        ...

    async def ready(self) -> bool:
        """Whether the runtime answers (drives the node's Ready condition)."""
        ...

    async def image_present(self, image: str) -> bool: ...

    async def pull_image(self, image: str) -> None:
        """Pull ``image``; ImageError(ErrImagePull, ...) when it cannot."""
        ...

    async def run_sandbox(self, config: SandboxConfig) -> Sandbox: ...

    async def stop_sandbox(self, sandbox_id: str) -> None: ...

    async def remove_sandbox(self, sandbox_id: str) -> None: ...

    async def list_sandboxes(self, *, dead: bool = False) -> list[Sandbox]:
        """The pod sandboxes that are up; with ``dead`` also those whose namespace owner is gone
        (what cleanup must still remove)."""
        ...

    async def start_container(self, sandbox: Sandbox, config: ContainerConfig) -> str:
        """Create and start a container in the sandbox; returns its id."""
        ...

    async def stop_container(self, container_id: str, grace_seconds: float) -> None:
        """SIGTERM, wait up to ``grace_seconds``, then SIGKILL; returns once it has exited."""
        ...

    async def remove_container(self, container_id: str) -> None: ...

    async def list_containers(self, pod_uid: str | None = None) -> list[ContainerInfo]: ...

    async def container_info(self, container_id: str) -> ContainerInfo: ...

    async def exec_sync(self, container_id: str, command: list[str], timeout: float) -> ExecResult:
        """Run a command in the container and wait (probes, lifecycle hooks); exit code -1 on timeout."""
        ...

    async def exec_stream(self, container_id: str, command: list[str], *, stdin: bool, tty: bool) -> ExecSession:
        """Start an interactive command in the container (skiffctl exec)."""
        ...

    async def attach(self, container_id: str, *, stdin: bool, tty: bool) -> ExecSession:
        """Connect to the container's running main process (skiffctl attach, run -i): ``write_stdin``
        feeds its stdin (only when it was started with ``stdin``; ``stdin`` False sends nothing),
        ``output`` gives what it prints from now on (one "stdout" stream when it runs on a tty) and
        ends when the process exits, ``wait`` gives its exit code, ``resize`` resizes its tty.
        ``close_stdin`` detaches this client's stdin: the process sees EOF only when it was
        started with ``stdin_once``. Several clients may attach at once; each sees the output."""
        ...

    async def container_stats(self, container_id: str) -> ContainerStats | None:
        """The container's usage now; None when it is not running or the runtime cannot tell."""
        ...

    def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
             timestamps: bool = False, since: float | None = None) -> AsyncIterator[bytes]:
        """The container's output (stdout and stderr interleaved), as Kubernetes' logs endpoint."""
        ...
