"""skiffctl basics as a subprocess against real processes: errors and exit codes."""

from __future__ import annotations

from tests.support.processes import ControlPlane


def test_unknown_resource_type(plane: ControlPlane) -> None:
    r = plane.ctl("get", "widgets", check=False)
    assert r.returncode == 1 and r.stderr.strip() == 'error: the server doesn\'t have a resource type "widgets"'


def test_not_found_and_no_traceback(plane: ControlPlane, ns: str) -> None:
    r = plane.ctl("get", "pod", "x", "-n", ns, check=False)
    assert r.returncode == 1 and r.stderr.strip() == 'Error from server (NotFound): pods "x" not found'
    assert "Traceback" not in r.stderr


def test_unreachable_server(plane: ControlPlane) -> None:
    r = plane.ctl("--server", "127.0.0.1:1", "get", "pods", check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == "error: unable to connect to the server at 127.0.0.1:1: connection refused"
