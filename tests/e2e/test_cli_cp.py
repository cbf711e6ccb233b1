"""``skiffctl cp`` as a person runs it: a skiffctl process, an apiserver process, and the fake
kubelet of test_cli_logs_exec (in this pytest process) whose exec runs commands for real, here —
so the "container" is this machine, its ``tar`` is GNU tar, and its paths are under ``tmp_path``.
Bytes go both ways and are compared; the errors are kubectl's."""

from __future__ import annotations

import filecmp
import os
from pathlib import Path

import pytest

from tests.e2e.conftest import bound_pod
from tests.support.fake_kubelet import KubeletThread
from tests.support.processes import ControlPlane


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A local directory: text, a 1 MiB binary, a nested file and an empty directory."""
    root = tmp_path / "local" / "tree"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "hello.txt").write_text("hello\n")
    (root / "sub" / "blob.bin").write_bytes(os.urandom(1024 * 1024))
    (root / "sub" / "deeper" / "note").write_bytes(b"\x00\x01\xff no newline")
    return root


def _same_tree(a: Path, b: Path) -> None:
    listed = {p.relative_to(a) for p in a.rglob("*")}
    assert listed == {p.relative_to(b) for p in b.rglob("*")}
    for rel in listed:
        if (a / rel).is_file():
            assert filecmp.cmp(a / rel, b / rel, shallow=False), rel


def test_a_file_into_the_pod_and_back(plane: ControlPlane, ns: str, kubelet: KubeletThread, tree: Path,
                                      tmp_path: Path) -> None:
    bound_pod(plane, ns, "web", "app")
    pod_dir = tmp_path / "pod"
    pod_dir.mkdir()
    blob = tree / "sub" / "blob.bin"
    plane.ctl("cp", str(blob), f"{ns}/web:{pod_dir}/copy.bin")  # a new name
    assert (pod_dir / "copy.bin").read_bytes() == blob.read_bytes()
    plane.ctl("cp", str(blob), f"web:{pod_dir}", "-n", ns)  # an existing directory: under its own name
    assert (pod_dir / "blob.bin").read_bytes() == blob.read_bytes()

    back = tmp_path / "back" / "deep" / "blob.bin"  # missing parents are made
    r = plane.ctl("cp", f"{ns}/web:{pod_dir}/copy.bin", str(back))
    assert back.read_bytes() == blob.read_bytes()
    assert r.stdout == ""
    assert "tar: Removing leading `/' from member names" in r.stderr  # the container's tar says so


def test_a_directory_tree_into_the_pod_and_back(plane: ControlPlane, ns: str, kubelet: KubeletThread, tree: Path,
                                                tmp_path: Path) -> None:
    bound_pod(plane, ns, "web", "app")
    pod_dir = tmp_path / "pod"
    pod_dir.mkdir()
    plane.ctl("cp", str(tree), f"{ns}/web:{pod_dir}")  # existing: pod/tree
    _same_tree(tree, pod_dir / "tree")
    plane.ctl("cp", f"{tree}/", f"{ns}/web:{pod_dir}/renamed")  # new: pod/renamed is the tree
    _same_tree(tree, pod_dir / "renamed")

    back = tmp_path / "back"
    back.mkdir()
    plane.ctl("cp", f"{ns}/web:{pod_dir}/tree", str(back))  # from a pod the contents land at DEST
    _same_tree(tree, back)


def test_no_preserve_and_the_container_flag(plane: ControlPlane, ns: str, kubelet: KubeletThread, tree: Path,
                                            tmp_path: Path) -> None:
    bound_pod(plane, ns, "web", "app", "sidecar")
    pod_dir = tmp_path / "pod"
    pod_dir.mkdir()
    r = plane.ctl("cp", "--no-preserve", str(tree / "hello.txt"), f"{ns}/web:{pod_dir}/a.txt")
    assert r.stderr == 'Defaulted container "app" out of: app, sidecar\n'
    starts = kubelet.kubelet.servicer.exec_starts
    assert (starts[-1].container, list(starts[-1].command)) == (
        "app", ["tar", "--no-same-permissions", "--no-same-owner", "-xmf", "-", "-C", str(pod_dir)])
    r = plane.ctl("cp", "-c", "sidecar", f"{ns}/web:{pod_dir}/a.txt", str(tmp_path / "b.txt"))
    assert (starts[-1].container, list(starts[-1].command)) == ("sidecar", ["tar", "cf", "-", f"{pod_dir}/a.txt"])
    assert (tmp_path / "b.txt").read_text() == "hello\n"
    r = plane.ctl("cp", "-c", "nope", f"{ns}/web:{pod_dir}/a.txt", str(tmp_path / "c.txt"), check=False)
    assert (r.returncode, r.stderr) == (1, "Error from server (BadRequest): container nope is not valid for pod web\n")


def test_errors(plane: ControlPlane, ns: str, kubelet: KubeletThread, tree: Path, tmp_path: Path) -> None:
    bound_pod(plane, ns, "web", "app")
    missing = tmp_path / "pod" / "missing"
    r = plane.ctl("cp", f"{ns}/web:{missing}", str(tmp_path / "out"), check=False)
    assert r.returncode == 2  # GNU tar's code, as kubectl exits
    assert f"tar: {missing}: Cannot stat: No such file or directory\n" in r.stderr
    assert r.stderr.endswith("command terminated with exit code 2\n")
    assert not (tmp_path / "out").exists()

    r = plane.ctl("cp", f"{ns}/web:{tree}/hello.txt", str(tree), check=False)  # a file onto a directory
    assert (r.returncode, r.stderr.splitlines()[-1]) == (1, f"error: open {tree}: is a directory")

    # The container's tar fails at once, with most of a 1 MiB archive still to send: no hang.
    r = plane.ctl("cp", str(tree / "sub"), f"{ns}/web:{tmp_path}/no/such", check=False, timeout=20)
    assert r.returncode == 2
    assert f"tar: {tmp_path}/no: Cannot open: No such file or directory\n" in r.stderr
    assert r.stderr.endswith("command terminated with exit code 2\n")

    r = plane.ctl("cp", str(tmp_path / "nothing"), f"{ns}/web:/tmp", check=False)
    assert (r.returncode, r.stderr) == (1, f"error: {tmp_path}/nothing doesn't exist in local filesystem\n")
    r = plane.ctl("cp", str(tree), f"{ns}/ghost:/tmp", check=False)
    assert (r.returncode, r.stderr) == (1, 'Error from server (NotFound): pods "ghost" not found\n')
    r = plane.ctl("cp", f"{ns}/web:/a", f"{ns}/web:/b", check=False)
    assert (r.returncode, r.stderr) == (1, "error: one of src or dest must be a local file specification\n")
