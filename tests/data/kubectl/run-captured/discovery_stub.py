"""A stand-in apiserver that answers only discovery (/api, /apis, /api/v1), so the real kubectl's
``run --dry-run=client`` (which asks for a REST mapping first) can be captured with no cluster.

``python3 discovery_stub.py PORT``; every other request is a 404 (``run`` without a client dry run fails).
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


def _resource(name: str, kind: str, short: str) -> dict[str, object]:
    return {"name": name, "singularName": "", "namespaced": True, "kind": kind, "shortNames": [short],
            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}


ANSWERS = {
    "/api": {"kind": "APIVersions", "versions": ["v1"],
             "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1",
                "resources": [_resource("pods", "Pod", "po"), _resource("services", "Service", "svc")]},
}


class Discovery(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = ANSWERS.get(self.path.split("?")[0])
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's signature
        pass


if __name__ == "__main__":
    HTTPServer(("127.0.0.1", int(sys.argv[1])), Discovery).serve_forever()
