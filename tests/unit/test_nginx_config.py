"""``render``: the nginx.conf text the load balancer's nginx runs, and finding the stream module.

No nginx runs here (tests/integration/test_nginx.py runs the real one): the text itself is checked,
line by line where it matters.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from proxy.loadbalancer.nginxconf import Listener, NginxError, render, stream_modules_of

WORK = Path("/var/lib/skiff/lb")
MODULES = ["/usr/lib/nginx/modules/ngx_stream_module.so"]


def web(**changes: object) -> Listener:
    fields: dict[str, object] = {"name": "default/web:http/TCP", "address": "192.0.2.10", "port": 80,
                                 "protocol": "TCP", "backends": (("10.0.0.1", 30080), ("10.0.0.2", 30080))}
    fields.update(changes)
    return Listener(**fields)  # type: ignore[arg-type]


def blocks(text: str) -> dict[str, list[str]]:
    """The stream block's upstreams and servers, by upstream name: their directive lines, stripped."""
    found: dict[str, list[str]] = {}
    for upstream, body in re.findall(r"upstream (\S+) \{\n(.*?)\n    \}", text, re.S):
        found[upstream] = [line.strip() for line in body.splitlines()]
    for body in re.findall(r"    server \{\n(.*?)\n    \}", text, re.S):
        lines = [line.strip() for line in body.splitlines()]
        target = next(line.split()[1].rstrip(";") for line in lines if line.startswith("proxy_pass"))
        found[f"server {target}"] = lines
    return found


def test_the_frame_names_only_paths_in_the_work_directory_and_loads_the_modules() -> None:
    text = render([], workdir=WORK, modules=MODULES)
    lines = text.splitlines()
    assert 'load_module "/usr/lib/nginx/modules/ngx_stream_module.so";' in lines
    assert "worker_processes 1;" in lines
    assert 'pid "/var/lib/skiff/lb/nginx.pid";' in lines
    assert 'error_log "/var/lib/skiff/lb/error.log" warn;' in lines
    assert "events {" in lines and "stream {" in lines
    assert "http {" not in lines  # no http block: no temp paths, no access log outside the work directory
    paths = re.findall(r'"(/[^"]*)"', text)
    assert all(p.startswith(str(WORK) + "/") or p in MODULES for p in paths), paths
    assert text.endswith("}\n")


def test_a_built_in_stream_module_loads_nothing() -> None:
    assert "load_module" not in render([], workdir=WORK, modules=[])


def test_a_relative_work_directory_becomes_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert f'pid "{tmp_path}/lb/nginx.pid";' in render([], workdir=Path("lb"), modules=[]).splitlines()


def test_a_tcp_listener_balances_across_its_backends() -> None:
    found = blocks(render([web()], workdir=WORK, modules=MODULES))
    assert found == {
        "tcp_192_0_2_10_80": ["server 10.0.0.1:30080 max_fails=1 fail_timeout=10s;",
                              "server 10.0.0.2:30080 max_fails=1 fail_timeout=10s;"],
        "server tcp_192_0_2_10_80": ["listen 192.0.2.10:80;", "proxy_pass tcp_192_0_2_10_80;",
                                     "proxy_connect_timeout 2s;"],
    }


def test_a_udp_listener_listens_udp_with_a_short_session_timeout() -> None:
    found = blocks(render([web(name="kube-system/dns:dns/UDP", port=53, protocol="UDP",
                               backends=(("10.0.0.1", 30053),))], workdir=WORK, modules=MODULES))
    assert found["server udp_192_0_2_10_53"] == ["listen 192.0.2.10:53 udp;", "proxy_pass udp_192_0_2_10_53;",
                                                 "proxy_connect_timeout 2s;", "proxy_timeout 10s;"]
    assert not any("proxy_responses" in line for line in found["server udp_192_0_2_10_53"])


def test_tcp_and_udp_on_one_port_are_two_listeners() -> None:
    found = blocks(render([web(), web(protocol="UDP")], workdir=WORK, modules=MODULES))
    assert set(found) == {"tcp_192_0_2_10_80", "server tcp_192_0_2_10_80", "udp_192_0_2_10_80",
                          "server udp_192_0_2_10_80"}


def test_ipv6_addresses_are_bracketed_and_names_stay_identifiers() -> None:
    text = render([web(address="fd00::10", backends=(("fd00::1", 30080), ("10.0.0.1", 30080)))],
                  workdir=WORK, modules=MODULES)
    found = blocks(text)
    assert found["tcp_fd00__10_80"] == ["server 10.0.0.1:30080 max_fails=1 fail_timeout=10s;",
                                        "server [fd00::1]:30080 max_fails=1 fail_timeout=10s;"]
    assert found["server tcp_fd00__10_80"][0] == "listen [fd00::10]:80;"


def test_addresses_are_normalized() -> None:
    a = render([web(address="fd00:0:0::0010", backends=(("fd00::0001", 30080),))], workdir=WORK, modules=[])
    b = render([web(address="fd00::10", backends=(("fd00::1", 30080),))], workdir=WORK, modules=[])
    assert a == b


def test_the_text_is_the_same_whatever_the_order() -> None:
    dns = web(name="kube-system/dns:dns/UDP", address="192.0.2.11", port=53, protocol="UDP",
              backends=(("10.0.0.2", 30053), ("10.0.0.1", 30053)))
    api = web(name="default/api:443/TCP", address="192.0.2.9", port=443, backends=(("10.0.0.1", 30443),))
    first = render([web(), dns, api], workdir=WORK, modules=MODULES)
    again = render([api, web(backends=(("10.0.0.2", 30080), ("10.0.0.1", 30080), ("10.0.0.2", 30080))),
                    web(name="kube-system/dns:dns/UDP", address="192.0.2.11", port=53, protocol="UDP",
                        backends=(("10.0.0.1", 30053), ("10.0.0.2", 30053)))], workdir=WORK, modules=MODULES)
    assert first == again
    assert render([web(), dns, api], workdir=WORK, modules=MODULES) == first
    # sorted by address: 192.0.2.9 before 192.0.2.10 (numerically, not as text)
    assert first.index("tcp_192_0_2_9_443") < first.index("tcp_192_0_2_10_80") < first.index("udp_192_0_2_11_53")
    assert first.count("server 10.0.0.2:30080") == 1  # duplicate backends collapse


def test_a_listener_without_backends_is_not_listened_on() -> None:
    text = render([web(backends=()), web(name="default/other:80/TCP", address="192.0.2.12")],
                  workdir=WORK, modules=MODULES)
    assert "192.0.2.10" not in "".join(line for line in text.splitlines() if not line.strip().startswith("#"))
    assert "    # default/web:http/TCP on 192.0.2.10:80/TCP: no backends, not listened on (connections are refused)" \
        in text.splitlines()
    assert set(blocks(text)) == {"tcp_192_0_2_12_80", "server tcp_192_0_2_12_80"}


def test_names_cannot_break_out_of_their_comment() -> None:
    evil = web(name="default/web:x\n}\nhttp { include /etc/passwd; }\n#/TCP")
    text = render([evil], workdir=WORK, modules=MODULES)
    comments = [line for line in text.splitlines() if "passwd" in line]
    assert len(comments) == 1 and comments[0].lstrip().startswith("# default/web:x__")
    assert "include" not in text.replace(comments[0], "")
    assert text.count("{") == text.count("}")


def test_paths_are_quoted_and_escaped() -> None:
    text = render([], workdir=Path('/srv/my "lb" dir'), modules=["/opt/nginx mods/ngx_stream_module.so"])
    assert 'pid "/srv/my \\"lb\\" dir/nginx.pid";' in text.splitlines()
    assert 'load_module "/opt/nginx mods/ngx_stream_module.so";' in text.splitlines()
    with pytest.raises(NginxError, match="control characters"):
        render([], workdir=Path("/srv/a\nb"), modules=[])


@pytest.mark.parametrize(("listener", "message"), [
    (web(address="lb.example.com"), "'lb.example.com' is not an IP address"),
    (web(address="192.0.2.10; include /etc/passwd"), "is not an IP address"),
    (web(address="fe80::1%eth0"), "scoped IPv6"),
    (web(port=0), "port 0 is not in 1-65535"),
    (web(port=65536), "port 65536 is not in 1-65535"),
    (web(protocol="SCTP"), "protocol 'SCTP' is not supported"),
    (web(backends=(("node-1", 30080),)), "backend: 'node-1' is not an IP address"),
    (web(backends=(("10.0.0.1", 70000),)), "backend 10.0.0.1: port 70000"),
])
def test_a_bad_listener_is_refused_with_its_name(listener: Listener, message: str) -> None:
    with pytest.raises(NginxError, match=re.escape(message)) as caught:
        render([listener], workdir=WORK, modules=MODULES)
    assert "default/web:http/TCP" in str(caught.value)


def test_two_listeners_on_one_socket_are_refused() -> None:
    both = "listeners default/a:80/TCP and default/b:80/TCP both want 192.0.2.10:80/TCP"
    with pytest.raises(NginxError, match=re.escape(both)):
        render([web(name="default/b:80/TCP"), web(name="default/a:80/TCP", backends=())], workdir=WORK, modules=[])


def test_lowercase_protocols_are_accepted() -> None:
    assert render([web(protocol="udp")], workdir=WORK, modules=[]) == \
        render([web(protocol="UDP")], workdir=WORK, modules=[])


DEBIAN_V = """nginx version: nginx/1.22.1
built with OpenSSL 3.0.11 19 Sep 2023
TLS SNI support enabled
configure arguments: --with-cc-opt='-g -O2 -fstack-protector-strong' --prefix=/usr/share/nginx \
--conf-path=/etc/nginx/nginx.conf --modules-path={modules} --with-compat --with-stream=dynamic \
--with-stream_ssl_module --with-stream_ssl_preread_module --with-mail=dynamic
"""


def test_a_dynamic_stream_module_is_found_in_the_modules_path(tmp_path: Path) -> None:
    (tmp_path / "ngx_stream_module.so").write_bytes(b"")
    assert stream_modules_of(DEBIAN_V.format(modules=tmp_path)) == [str(tmp_path / "ngx_stream_module.so")]


def test_a_missing_dynamic_stream_module_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(NginxError, match="libnginx-mod-stream"):
        stream_modules_of(DEBIAN_V.format(modules=tmp_path))


def test_without_a_modules_path_the_prefix_has_them(tmp_path: Path) -> None:
    (tmp_path / "modules").mkdir()
    (tmp_path / "modules" / "ngx_stream_module.so").write_bytes(b"")
    version = f"configure arguments: --prefix={tmp_path} --with-stream=dynamic"
    assert stream_modules_of(version) == [str(tmp_path / "modules" / "ngx_stream_module.so")]


def test_a_built_in_stream_module_needs_no_load_module() -> None:
    assert stream_modules_of("configure arguments: --prefix=/etc/nginx --with-stream --with-stream_ssl_module") == []


def test_nginx_without_stream_is_an_error() -> None:
    # --with-stream_ssl_module alone is not the stream module
    with pytest.raises(NginxError, match="without the stream module"):
        stream_modules_of("configure arguments: --prefix=/etc/nginx --with-http_ssl_module --with-stream_ssl_module")
