"""``skiffctl cp`` without an apiserver: file specs and the argument errors (checked against
kubectl 1.32), the Go path rules that name the destination, the archive built from a local tree,
the guarded extraction of a container's archive (``..``, absolute names, symlinks, hard links), and
both directions through an exec that runs the commands here (a missing ``tar``, ``--retries``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import tarfile
from collections.abc import AsyncIterable, Callable
from pathlib import Path
from typing import Any

import pytest

from skiff.api import errors
from skiff.api.v1 import core_pb2
from skiff.cli.commands import cp
from skiff.cli.context import Context, UsageError

# ---- file specs and argument errors ----


@pytest.mark.parametrize(("arg", "spec"), [
    ("web:/tmp/x", cp.FileSpec("/tmp/x", pod="web")),
    ("ns/web:/tmp/dir/", cp.FileSpec("/tmp/dir", pod="web", namespace="ns")),
    ("web:rel/path", cp.FileSpec("rel/path", pod="web")),
    ("web:", cp.FileSpec("", pod="web")),
    ("web:/", cp.FileSpec("/", pod="web")),
    ("/local/dir/", cp.FileSpec("/local/dir")),
    ("plain", cp.FileSpec("plain")),
    ("./a:b", cp.FileSpec("b", pod="a", namespace=".")),  # kubectl too: the first ':' marks a pod
    ("web:/a:b", cp.FileSpec("/a:b", pod="web")),
])
def test_parse_file_spec(arg: str, spec: cp.FileSpec) -> None:
    assert cp.parse_file_spec(arg) == spec


@pytest.mark.parametrize("arg", [":/x", "a/b/c:/x"])
def test_parse_file_spec_rejects(arg: str) -> None:
    with pytest.raises(UsageError) as exc:
        cp.parse_file_spec(arg)
    assert str(exc.value) == "error: filespec must match the canonical format: [[namespace/]pod:]file/path"


def _context(*specs: str, client: Any = None, **flags: Any) -> Context:
    args = argparse.Namespace(**{"specs": list(specs), "container": "", "no_preserve": False, "retries": 0, **flags})
    return Context(args=args, server="unused", namespace="ns", namespace_explicit=False, out=io.StringIO(),
                   err=io.StringIO(), _client=client)


@pytest.mark.parametrize(("specs", "message"), [
    ((), "error: source and destination are required"),
    (("a",), "error: source and destination are required"),
    (("a", "b", "c"), "error: source and destination are required"),
    (("p:/a", "q:/b"), "error: one of src or dest must be a local file specification"),
    (("p:", "/b"), "error: filepath can not be empty"),
    (("/a", "p:"), "error: filepath can not be empty"),
    (("/a", "/b"), "error: one of src or dest must be a remote file specification"),
    (("/no/such/file/", "p:/tmp"), "error: /no/such/file doesn't exist in local filesystem"),
    (("x:y", ":z"), "error: filespec must match the canonical format: [[namespace/]pod:]file/path"),
])
def test_argument_errors(specs: tuple[str, ...], message: str) -> None:
    with pytest.raises(UsageError) as exc:
        asyncio.run(cp.run_cp(_context(*specs)))
    assert str(exc.value) == message


# ---- paths and destination naming ----


@pytest.mark.parametrize(("path", "cleaned", "dirname", "basename"), [
    ("/tmp/x/", "/tmp/x", "/tmp/x", "x"),  # Go's path.Dir: only what follows the last '/' goes
    ("//a//b/./c/..", "/a/b", "/a/b/c", ".."),
    ("", ".", ".", "."),
    ("/", "/", "/", "/"),
    ("x", "x", ".", "x"),
    ("/x", "/x", "/", "x"),
])
def test_go_path_rules(path: str, cleaned: str, dirname: str, basename: str) -> None:
    assert (cp.clean(path), cp.dirname(path), cp.basename(path)) == (cleaned, dirname, basename)


@pytest.mark.parametrize(("src", "prefix"), [
    ("/tmp/foo", "tmp/foo"), ("/tmp/foo/", "tmp/foo"), ("tmp//foo/.", "tmp/foo"), ("../../etc", "etc"),
    ("/../x", "x"), ("/", ""), (".", ""), ("..", ""),
])
def test_archive_prefix(src: str, prefix: str) -> None:
    assert cp.archive_prefix(src) == prefix


@pytest.mark.parametrize(("src", "dest", "is_dir", "target", "command"), [
    ("/l/file", "/tmp", True, "/tmp/file", ["tar", "-xmf", "-", "-C", "/tmp"]),
    ("/l/dir", "/tmp/new", False, "/tmp/new", ["tar", "-xmf", "-", "-C", "/tmp"]),
    ("dir/", "/", True, "/dir", ["tar", "-xmf", "-", "-C", "/"]),
    ("/l/file", "name", False, "name", ["tar", "-xmf", "-", "-C", "."]),
    ("/l/file", ".", True, "file", ["tar", "-xmf", "-", "-C", "."]),
])
def test_remote_destination(src: str, dest: str, is_dir: bool, target: str, command: list[str]) -> None:
    assert cp.remote_destination(src, dest, is_dir) == target
    assert cp.untar_command(target, no_preserve=False) == command


def test_no_preserve_command() -> None:
    assert cp.untar_command("/tmp/x", no_preserve=True) == [
        "tar", "--no-same-permissions", "--no-same-owner", "-xmf", "-", "-C", "/tmp"]


def test_local_tree_archive(tmp_path: Path) -> None:
    """kubectl's makeTar: entries under the destination's base name; a non-empty directory has no
    header of its own, an empty one has; symlinks stay symlinks."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "empty").mkdir()
    (src / "sub" / "f").write_bytes(b"data")
    (src / "link").symlink_to("/etc/passwd")
    out = io.BytesIO()
    cp.write_tar(str(src), "/remote/renamed", out)
    out.seek(0)
    with tarfile.open(fileobj=out) as archive:
        members = {m.name: m for m in archive.getmembers()}
        assert sorted(members) == ["renamed/empty", "renamed/link", "renamed/sub/f"]
        assert members["renamed/empty"].isdir()
        assert members["renamed/link"].issym() and members["renamed/link"].linkname == "/etc/passwd"
        assert archive.extractfile("renamed/sub/f").read() == b"data"  # type: ignore[union-attr]
    assert not any(m.pax_headers for m in members.values())  # plain ustar for busybox's tar


# ---- extracting a container's archive ----


def _archive(*members: tuple[str, str | bytes]) -> bytes:
    """A tar of (name, content): bytes for a file, ``"dir"``, ``"-> target"`` for a symlink, ``"=> target"``
    for a hard link."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, bytes):
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
                continue
            if content == "dir":
                info.type = tarfile.DIRTYPE
            else:
                info.type = tarfile.SYMTYPE if content.startswith("->") else tarfile.LNKTYPE
                info.linkname = content[3:]
            archive.addfile(info)
    return out.getvalue()


def _untar(data: bytes, src: str, dest: Path, hint: str = "") -> list[str]:
    """Extract ``data`` as the archive of the container's ``src``; returns the warnings."""
    warnings: list[str] = []
    inbox = cp.Inbox()
    for i in range(0, len(data), 1000):
        inbox.feed(data[i:i + 1000])
    inbox.close()
    cp.Untar(src, str(dest), warnings.append, symlink_hint=hint).run(inbox)
    return warnings


def test_untar_lands_at_dest(tmp_path: Path) -> None:
    data = _archive(("tmp/src", "dir"), ("tmp/src/a", b"A"), ("tmp/src/sub/b", b"B" * 5000), ("tmp/src/e", "dir"))
    assert _untar(data, "/tmp/src", tmp_path / "out") == []
    assert (tmp_path / "out" / "a").read_bytes() == b"A"
    assert (tmp_path / "out" / "sub" / "b").read_bytes() == b"B" * 5000
    assert (tmp_path / "out" / "e").is_dir()


def test_untar_refuses_escapes(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    data = _archive(("tmp/src/ok", b"fine"), ("tmp/src/../evil", b"x"), ("tmp/src/sub/../../evil2", b"x"))
    assert _untar(data, "/tmp/src", dest) == [
        f'warning: file "{tmp_path}/evil" is outside target destination, skipping',
        f'warning: file "{tmp_path}/evil2" is outside target destination, skipping',
    ]
    assert sorted(os.listdir(tmp_path)) == ["out"]
    assert (dest / "ok").read_bytes() == b"fine"


def test_untar_strips_leading_slashes(tmp_path: Path) -> None:
    data = _archive(("/tmp/src/a", b"1"), ("//tmp/src/b", b"2"), ("./tmp/src/c", b"3"))
    assert _untar(data, "/tmp/src", tmp_path) == ["tar: Removing leading '/' from member names"]
    assert [(tmp_path / n).read_bytes() for n in "abc"] == [b"1", b"2", b"3"]


def test_untar_outside_the_source_is_corrupted(tmp_path: Path) -> None:
    for name in ("etc/passwd", "tmp/srcx/a"):
        with pytest.raises(cp.CopyError, match="^tar contents corrupted$"):
            _untar(_archive((name, b"x")), "/tmp/src", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_untar_skips_symlinks_and_copies_hard_links(tmp_path: Path) -> None:
    data = _archive(("src/f", b"content"), ("src/abs", "-> /etc/passwd"), ("src/up", "-> ../../x"),
                    ("src/hard", "=> src/f"), ("src/out", "=> /etc/shadow"))
    assert _untar(data, "src", tmp_path, hint="skiffctl exec ...") == [
        f'warning: skipping symlink: "{tmp_path}/abs" -> "/etc/passwd" (consider using "skiffctl exec ...")',
        f'warning: skipping symlink: "{tmp_path}/up" -> "../../x"',
        f'warning: skipping hard link: "{tmp_path}/out" -> "/etc/shadow"',
    ]
    assert sorted(os.listdir(tmp_path)) == ["f", "hard"]
    assert (tmp_path / "hard").read_bytes() == b"content"


def test_untar_a_file_onto_a_directory(tmp_path: Path) -> None:
    with pytest.raises(cp.CopyError) as exc:
        _untar(_archive(("etc/hosts", b"x")), "/etc/hosts", tmp_path)
    assert str(exc.value) == f"open {tmp_path}: is a directory"


@pytest.mark.parametrize("data", [b"", bytes(10240)])
def test_untar_an_empty_stream(tmp_path: Path, data: bytes) -> None:
    assert _untar(data, "/x", tmp_path / "out") == []
    assert not (tmp_path / "out").exists()


# ---- both directions through an exec that runs here ----

Exec = Callable[..., Any]


class _Client:
    async def get(self, message: type, name: str, *, namespace: str) -> core_pb2.Pod:
        pod = core_pb2.Pod()
        pod.metadata.name, pod.metadata.namespace = name, namespace
        pod.spec.containers.add(name="app")
        return pod


def _local_exec(calls: list[list[str]], *, env: dict[str, str] | None = None, cut_after: int | None = None) -> Exec:
    """``pods.exec`` running the command in this machine; ``cut_after`` bytes of stdout, the
    first time, then the stream breaks."""

    async def run(client: Any, pod: str, command: list[str], *, stdin: AsyncIterable[bytes] | None = None,
                  stdout: Callable[[bytes], None], stderr: Callable[[bytes], None], **_: Any) -> int:
        calls.append(list(command))
        try:
            proc = await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
        except FileNotFoundError:
            stderr(f"exec failed: {command[0]}: not found\n".encode())
            return 127
        feeding = asyncio.ensure_future(_feed(stdin, proc))
        try:
            await asyncio.gather(_pump(proc.stdout, stdout, cut_after if len(calls) == 1 else None),
                                 _pump(proc.stderr, stderr, None))
            return await proc.wait()
        finally:
            feeding.cancel()
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    return run


async def _feed(stdin: AsyncIterable[bytes] | None, proc: asyncio.subprocess.Process) -> None:
    if stdin is None or proc.stdin is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        async for data in stdin:
            proc.stdin.write(data)
            await proc.stdin.drain()
        proc.stdin.close()


async def _pump(stream: asyncio.StreamReader | None, sink: Callable[[bytes], None], cut_after: int | None) -> None:
    sent = 0
    while stream is not None and (data := await stream.read(4096)):
        if cut_after is not None and sent + len(data) > cut_after:
            sink(data[:cut_after - sent])
            raise errors.ServiceUnavailable("the kubelet went away")
        sink(data)
        sent += len(data)


def _cp(monkeypatch: pytest.MonkeyPatch, exec_: Exec, *specs: str, **flags: Any) -> tuple[int, Context]:
    monkeypatch.setattr(cp.pods, "exec", exec_)
    ctx = _context(*specs, client=_Client(), **flags)
    return asyncio.run(cp.run_cp(ctx)), ctx


def test_round_trip_through_local_exec(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "blob").write_bytes(os.urandom(300_000))
    pod = tmp_path / "pod"
    pod.mkdir()
    calls: list[list[str]] = []
    code, ctx = _cp(monkeypatch, _local_exec(calls), str(src), f"web:{pod}")
    assert code == 0
    assert calls == [["test", "-d", str(pod)], ["tar", "-xmf", "-", "-C", str(pod)]]
    assert (pod / "src" / "d" / "blob").read_bytes() == (src / "d" / "blob").read_bytes()
    code, ctx = _cp(monkeypatch, _local_exec(calls), f"web:{pod}/src", str(tmp_path / "back"))
    assert (code, calls[-1]) == (0, ["tar", "cf", "-", f"{pod}/src"])
    assert (tmp_path / "back" / "d" / "blob").read_bytes() == (src / "d" / "blob").read_bytes()


def test_the_container_tar_failing_early_stops_the_archive(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(os.urandom(4 * 1024 * 1024))
    monkeypatch.setattr(cp.pods, "exec", _local_exec([]))
    ctx = _context(str(tmp_path / "big"), f"web:{tmp_path}/no/such/dir", client=_Client())
    assert asyncio.run(asyncio.wait_for(cp.run_cp(ctx), 30)) == 2
    assert ctx.err.getvalue().endswith("command terminated with exit code 2\n")  # type: ignore[attr-defined]


def test_no_tar_in_the_container(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    no_tar = _local_exec([], env={"PATH": str(tmp_path / "empty")})
    for specs in ((str(tmp_path / "f"), "web:/tmp"), ("web:/tmp/f", str(tmp_path / "g"))):
        code, ctx = _cp(monkeypatch, no_tar, *specs)
        assert code == 127
        assert ctx.err.getvalue().splitlines()[-2:] == [  # type: ignore[attr-defined]
            "command terminated with exit code 127", cp.TAR_NOTE]


def test_retries_resume_where_the_stream_broke(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "pod").mkdir()
    blob = os.urandom(50_000)
    (tmp_path / "pod" / "blob").write_bytes(blob)
    calls: list[list[str]] = []
    code, ctx = _cp(monkeypatch, _local_exec(calls, cut_after=20_000), f"web:{tmp_path}/pod/blob",
                    str(tmp_path / "back"), retries=2)
    assert code == 0
    assert (tmp_path / "back").read_bytes() == blob
    assert [c[-1].rsplit(" ", 1)[-1] for c in calls] == ["-c+1", "-c+20001"]
    assert ctx.out.getvalue() == "Resuming copy at 20000 bytes, retry 1/2\n"  # type: ignore[attr-defined]

    with pytest.raises(errors.ServiceUnavailable):  # no retries: the broken stream is the error
        _cp(monkeypatch, _local_exec([], cut_after=20_000), f"web:{tmp_path}/pod/blob", str(tmp_path / "again"))


def test_retries_give_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "blob").write_bytes(os.urandom(50_000))
    calls: list[list[str]] = []

    async def always_breaks(*args: Any, stdout: Callable[[bytes], None], **kw: Any) -> int:
        calls.append(args[2])
        raise errors.ServiceUnavailable("the kubelet went away")

    monkeypatch.setattr(cp.pods, "exec", always_breaks)
    ctx = _context(f"web:{tmp_path}/blob", str(tmp_path / "back"), client=_Client(), retries=1)
    with pytest.raises(errors.ServiceUnavailable):
        asyncio.run(cp.run_cp(ctx))
    assert len(calls) == 2
    assert ctx.out.getvalue() == (  # type: ignore[attr-defined]
        "Resuming copy at 0 bytes, retry 1/1\nDropping out copy after 1 retries\n")
