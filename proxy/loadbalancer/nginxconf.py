"""nginx's stream config for the load balancer: listeners in, the whole ``nginx.conf`` out.

A :class:`Listener` is one ``address:port`` (TCP or UDP) balanced round-robin across
``(node IP, nodePort)`` backends. :func:`render` turns the whole list into the whole ``nginx.conf``
text, deterministically: listeners are sorted by socket and backends sorted and de-duplicated, so
the same set gives the same bytes whatever the order it came in. Per listener, the ``stream {}``
block holds one ``upstream`` named after the socket (``tcp_10_0_0_1_80``, ``udp_fd00__1_53``: a
valid nginx identifier, stable when other listeners come and go; the listener's name appears only
in a sanitized comment) and one ``server`` that listens and proxies to it. nginx refuses an upstream
without servers, so a listener without backends is not listened on at all: connecting to it is
refused at once (TCP RST, ICMP port unreachable for UDP), as Kubernetes rejects a Service without
endpoints. Addresses and ports are validated (IP literals only, never host names) before anything
reaches the file: a bad listener raises :class:`NginxError`, as do two listeners on one socket.

Debian builds the stream module as a dynamic module: :func:`stream_modules` reads ``nginx -V`` and
finds the ``load_module`` path (nothing when it is built in). Old workers serving long connections
after a reload end after ``worker_shutdown_timeout`` (240 s, ingress-nginx's default), so frequent
reloads do not pile workers up.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PROTOCOLS = ("TCP", "UDP")
STREAM_MODULE = "ngx_stream_module.so"
CONNECT_TIMEOUT = "2s"
UDP_SESSION_TIMEOUT = "10s"
FAIL_TIMEOUT = "10s"
WORKER_SHUTDOWN_TIMEOUT = "240s"
WORKER_CONNECTIONS = 4096  # two per proxied connection
WORKER_RLIMIT_NOFILE = 2 * WORKER_CONNECTIONS


class NginxError(Exception):
    """nginx refused a config, did not start, or did not reload; the message is nginx's own where it has one."""



@dataclass(frozen=True)
class Listener:
    name: str
    """``<namespace>/<service>:<port name or number>/<protocol>``, for comments and logs."""
    address: str
    port: int
    protocol: str
    """``TCP`` or ``UDP``."""
    backends: tuple[tuple[str, int], ...]
    """``(node IP, nodePort)`` pairs; may be empty (then connecting is refused)."""


# -- rendering ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Socket:
    """A validated listener: normalized address, port, protocol, sorted unique backends."""

    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int
    protocol: str
    backends: tuple[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int], ...]
    name: str

    @property
    def key(self) -> tuple[int, int, str, int, str]:
        return (self.address.version, int(self.address), self.protocol, self.port, self.name)

    @property
    def upstream(self) -> str:
        return f"{self.protocol.lower()}_{re.sub(r'[^0-9A-Za-z]', '_', str(self.address))}_{self.port}"

    def text(self) -> str:
        return f"{_hostport(self.address, self.port)}/{self.protocol}"


def _ip(text: str, what: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        raise NginxError(f"{what}: {text!r} is not an IP address") from None
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        raise NginxError(f"{what}: {text!r}: scoped IPv6 addresses are not supported")
    return ip


def _port(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise NginxError(f"{what}: port {value!r} is not in 1-65535")
    return value


def _checked(listener: Listener) -> _Socket:
    what = f"listener {_comment(listener.name)}"
    protocol = listener.protocol.upper()
    if protocol not in PROTOCOLS:
        raise NginxError(f"{what}: protocol {listener.protocol!r} is not supported (TCP or UDP)")
    backends = sorted({(_ip(ip, f"{what}: backend"), _port(port, f"{what}: backend {ip}"))
                       for ip, port in listener.backends}, key=lambda b: (b[0].version, int(b[0]), b[1]))
    return _Socket(_ip(listener.address, what), _port(listener.port, what), protocol, tuple(backends), listener.name)


def _hostport(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> str:
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def _comment(text: str) -> str:
    """``text`` safe for one comment line (and for a log line): no newline, nothing odd."""
    return re.sub(r"[^0-9A-Za-z._:/@=+-]", "_", text)


def _quoted(path: str | Path) -> str:
    """A path as an nginx quoted string (``\\`` and ``"`` escaped; control characters refused)."""
    text = str(path)
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise NginxError(f"path {text!r} has control characters")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(listeners: Sequence[Listener], *, workdir: Path, modules: Sequence[str]) -> str:
    """The whole nginx.conf text (deterministic: the same listeners, in any order, give the same bytes)."""
    workdir = Path(os.path.abspath(workdir))
    sockets = sorted((_checked(listener) for listener in listeners), key=lambda s: s.key)
    seen: dict[tuple[int, int, str, int], _Socket] = {}
    for sock in sockets:
        other = seen.setdefault(sock.key[:4], sock)
        if other is not sock:
            raise NginxError(f"listeners {_comment(other.name)} and {_comment(sock.name)} "
                             f"both want {sock.text()}")
    lines = [
        "# nginx.conf of skiff's load balancer, written by proxy/loadbalancer/nginx.py: do not edit,",
        "# it is rewritten whenever the LoadBalancer Services or the nodes change.",
    ]
    lines += [f"load_module {_quoted(module)};" for module in modules]
    lines += [
        "",
        "worker_processes 1;",
        f"worker_rlimit_nofile {WORKER_RLIMIT_NOFILE};",
        f"worker_shutdown_timeout {WORKER_SHUTDOWN_TIMEOUT};",
        f"pid {_quoted(workdir / 'nginx.pid')};",
        f"error_log {_quoted(workdir / 'error.log')} warn;",
        "",
        "events {",
        f"    worker_connections {WORKER_CONNECTIONS};",
        "}",
        "",
        "stream {",
    ]
    for n, sock in enumerate(sockets):
        if n:
            lines.append("")
        if not sock.backends:
            lines.append(f"    # {_comment(sock.name)} on {sock.text()}: no backends, not listened on "
                         "(connections are refused)")
            continue
        lines += [f"    # {_comment(sock.name)}", f"    upstream {sock.upstream} {{"]
        lines += [f"        server {_hostport(ip, port)} max_fails=1 fail_timeout={FAIL_TIMEOUT};"
                  for ip, port in sock.backends]
        lines += [
            "    }",
            "    server {",
            f"        listen {_hostport(sock.address, sock.port)}{' udp' if sock.protocol == 'UDP' else ''};",
            f"        proxy_pass {sock.upstream};",
            f"        proxy_connect_timeout {CONNECT_TIMEOUT};",
        ]
        if sock.protocol == "UDP":
            lines.append(f"        proxy_timeout {UDP_SESSION_TIMEOUT};")
        lines.append("    }")
    lines += ["}", ""]
    return "\n".join(lines)


# -- finding nginx and its stream module --------------------------------------------------------------


def find_nginx() -> str | None:
    """The nginx binary: on PATH, else /usr/sbin/nginx (not on a non-root user's PATH); None without one."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def stream_modules_of(version: str) -> list[str]:
    """The ``load_module`` paths the stream module needs, from ``nginx -V``'s output ``version``.

    Empty when the stream module is built in; raises NginxError when nginx has none.
    """
    if re.search(r"(?:^|\s)--with-stream=dynamic(?=\s|$)", version):
        found = re.search(r"(?:^|\s)--modules-path=(\S+)", version)
        if found:
            where = Path(found.group(1).strip("'\""))
        else:
            prefix = re.search(r"(?:^|\s)--prefix=(\S+)", version)
            where = Path(prefix.group(1).strip("'\"") if prefix else "/usr/local/nginx") / "modules"
        module = where / STREAM_MODULE
        if not module.is_file():
            raise NginxError(f"nginx's stream module is a dynamic module and {module} is missing "
                             "(Debian: apt-get install libnginx-mod-stream)")
        return [str(module)]
    if re.search(r"(?:^|\s)--with-stream(?=\s|$)", version):
        return []
    raise NginxError("nginx is built without the stream module (Debian: apt-get install libnginx-mod-stream)")


def stream_modules(binary: str | None = None) -> list[str]:
    """The ``load_module`` paths the stream module needs with ``binary`` (default: :func:`find_nginx`).

    Empty when it is built in; raises NginxError when there is no nginx or it has no stream module.
    """
    binary = binary or find_nginx()
    if not binary:
        raise NginxError("nginx not found (Debian: apt-get install nginx-light libnginx-mod-stream)")
    try:
        done = subprocess.run([binary, "-V"], capture_output=True, text=True, timeout=30, check=False)
    except OSError as exc:
        raise NginxError(f"cannot run {binary} -V: {exc}") from exc
    return stream_modules_of(done.stderr + done.stdout)
