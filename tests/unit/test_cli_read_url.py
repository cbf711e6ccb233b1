"""``-f URL``: manifests read over http from a real server on a loopback port, kubectl's retries and errors."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from skiff.cli.context import UsageError
from skiff.cli.resources import load_files, read_url

MANIFEST = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-url}\ndata: {a: b}\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    failures_left = 0

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/flaky.yaml" and _Handler.failures_left > 0:
            _Handler.failures_left -= 1
            self.send_error(503)
            return
        if self.path not in ("/cm.yaml", "/flaky.yaml"):
            self.send_error(404)
            return
        body = MANIFEST.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_manifest_is_read_from_a_url(server: str) -> None:
    [(source, obj)] = load_files([f"{server}/cm.yaml"], recursive=False)
    assert (source, obj.metadata.name) == (f"{server}/cm.yaml", "from-url")  # type: ignore[attr-defined]


def test_a_server_error_is_tried_again_and_other_errors_are_kubectls(server: str) -> None:
    _Handler.failures_left = 2
    assert read_url(f"{server}/flaky.yaml", pause=0) == MANIFEST
    _Handler.failures_left = 3
    with pytest.raises(UsageError) as unavailable:
        read_url(f"{server}/flaky.yaml", pause=0)
    assert str(unavailable.value) == (f'error: unable to read URL "{server}/flaky.yaml", server reported '
                                      "503 Service Unavailable, status code=503")
    with pytest.raises(UsageError) as missing:
        read_url(f"{server}/nope.yaml")
    assert str(missing.value) == (f'error: unable to read URL "{server}/nope.yaml", server reported 404 Not Found, '
                                  "status code=404")


def test_a_url_nobody_answers_names_the_url() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(UsageError, match=f'^error: Get "http://127.0.0.1:{port}/x.yaml": .*refused'):
        read_url(f"http://127.0.0.1:{port}/x.yaml")
