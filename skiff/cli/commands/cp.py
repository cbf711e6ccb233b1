"""``cp``: copy files and directories to and from containers, as ``kubectl cp`` (1.32) does.

Like kubectl (staging/src/k8s.io/kubectl/pkg/cmd/cp: cp.go, filespec.go), nothing but ``tar`` in
the container is needed: both directions are one ``exec`` through the apiserver
(:func:`skiff.client.pods.exec`, the call ``skiffctl exec`` makes), and the archive is read or
written here with :mod:`tarfile` as it streams (no temporary archive).

- **File specs** are ``[[NAMESPACE/]POD:]PATH``: the first ``:`` separates the pod; a spec without
  one is local. Exactly one side must be in a pod. The pod's namespace is the spec's, else ``-n``;
  its container is ``-c``, else the one ``skiffctl exec`` would choose.
- **Local → container**: ``test -d DEST`` in the container decides the name: into an existing
  directory the source keeps its base name (``DEST/BASE``), else it becomes ``DEST``. The archive,
  built by a thread from the local tree (kubectl's makeTar: a directory's entries, an empty
  directory's own header, symlinks as symlinks), is the exec's stdin, as it is written, for
  ``tar -xmf - -C DIR`` in the container (``--no-same-permissions --no-same-owner`` as well with
  ``--no-preserve``); a tar there that ends early stops the thread.
- **Container → local**: ``tar cf - SRC`` runs in the container and a thread untars its output as
  it arrives. Unlike ``cp -r``, the copy always lands *at* DEST: a directory's contents go into
  DEST, and a file onto an existing directory fails (``error: open DEST: is a directory``). The
  archive is not trusted: leading ``/`` are stripped from member names (with tar's own warning),
  an entry outside SRC means ``tar contents corrupted``, one that would land outside DEST is
  skipped with kubectl's warning, symlinks are never created (kubectl's ``skipping symlink``
  warning, with its ``exec ... tar`` hint the first time), and a hard link is only a copy of a file
  this same run wrote. Files are created as ``os.Create`` does (0666 less the umask): like
  kubectl, ``cp`` does not carry file modes. ``--retries N`` runs ``tar cf - SRC | tail -c+K``
  instead, and resumes after a broken stream from the bytes already read (a negative N: without
  end).

The container's tar writes its stderr here (kubectl sends the container→local one to stdout; it is
diagnostics, so skiffctl keeps stdout clean), and a failing tar ends like ``skiffctl exec``:
``command terminated with exit code N``, exit N; 126/127 (no tar to run) add kubectl's note that
``tar`` must be in the image. Local failures read as kubectl's Go errors
(``error: open /x: permission denied``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import posixpath
import queue
import shlex
import shutil
import stat
import tarfile
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import IO, Protocol

from skiff.api import errors
from skiff.api.v1 import core_pb2
from skiff.api.validation import go_quote
from skiff.cli.commands.logs import default_container, write_bytes
from skiff.cli.context import Context, UsageError
from skiff.client import pods

FILESPEC_FORMAT = "filespec must match the canonical format: [[namespace/]pod:]file/path"
TAR_NOTE = "note: 'skiffctl cp' requires that the 'tar' binary is present in your container image"
LEADING_SLASH_WARNING = "tar: Removing leading '/' from member names"
CHUNK = 64 * 1024
Warn = Callable[[str], None]

EXAMPLES = """examples:
  # !!!Important Note!!!
  # Requires that the 'tar' binary is present in your container
  # image.  If 'tar' is not present, 'skiffctl cp' will fail.
  #
  # For advanced use cases, such as symlinks, wildcard expansion or
  # file mode preservation, consider using 'skiffctl exec'.

  # Copy /tmp/foo local file to /tmp/bar in a remote pod in namespace <some-namespace>
  tar cf - /tmp/foo | skiffctl exec -i -n <some-namespace> <some-pod> -- tar xf - -C /tmp/bar

  # Copy /tmp/foo from a remote pod to /tmp/bar locally
  skiffctl exec -n <some-namespace> <some-pod> -- tar cf - /tmp/foo | tar xf - -C /tmp/bar

  # Copy /tmp/foo_dir local directory to /tmp/bar_dir in a remote pod in the default namespace
  skiffctl cp /tmp/foo_dir <some-pod>:/tmp/bar_dir

  # Copy /tmp/foo local file to /tmp/bar in a remote pod in a specific container
  skiffctl cp /tmp/foo <some-pod>:/tmp/bar -c <specific-container>

  # Copy /tmp/foo local file to /tmp/bar in a remote pod in namespace <some-namespace>
  skiffctl cp /tmp/foo <some-namespace>/<some-pod>:/tmp/bar

  # Copy /tmp/foo from a remote pod to /tmp/bar locally
  skiffctl cp <some-namespace>/<some-pod>:/tmp/foo /tmp/bar
"""


class CopyError(Exception):
    """A local failure while copying; printed as ``error: ...``, exit 1."""


# ---- file specs and paths (Go's path package, as kubectl's filespec.go uses it) ----

@dataclass(frozen=True)
class FileSpec:
    path: str
    pod: str = ""
    namespace: str = ""

    @property
    def remote(self) -> bool:
        return bool(self.pod)


def strip_trailing_slash(path: str) -> str:
    """One trailing ``/`` off (not off ``/`` itself)."""
    return path[:-1] if path.endswith("/") and path != "/" else path


def parse_file_spec(arg: str) -> FileSpec:
    """``[[NAMESPACE/]POD:]PATH`` (kubectl's extractFileSpec: the first ``:`` marks a pod)."""
    colon = arg.find(":")
    if colon == 0:
        raise UsageError(f"error: {FILESPEC_FORMAT}")
    if colon < 0:
        return FileSpec(strip_trailing_slash(arg))
    pieces = arg[:colon].split("/")
    if len(pieces) > 2:
        raise UsageError(f"error: {FILESPEC_FORMAT}")
    return FileSpec(strip_trailing_slash(arg[colon + 1:]), pod=pieces[-1],
                    namespace=pieces[0] if len(pieces) == 2 else "")


def clean(path: str) -> str:
    """Go's ``path.Clean``: ``""`` is ``.``, and a leading ``//`` is one ``/``."""
    cleaned = posixpath.normpath(path) if path else "."
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def dirname(path: str) -> str:
    """Go's ``path.Dir``: everything before the last ``/``, cleaned."""
    return clean(path[:path.rfind("/") + 1])


def basename(path: str) -> str:
    """Go's ``path.Base``: the last element, trailing slashes ignored."""
    trimmed = path.rstrip("/")
    if not trimmed:
        return "/" if path else "."
    return trimmed[trimmed.rfind("/") + 1:]


def join(base: str, rest: str) -> str:
    """Go's ``path.Join`` of two: empty parts ignored, an absolute second part appended."""
    return clean(f"{base}/{rest}" if base and rest else base or rest)


def strip_path_shortcuts(path: str) -> str:
    """kubectl's stripPathShortcuts: leading ``../`` removed, ``.``/``..`` empty, no leading ``/``."""
    while path.startswith("../"):
        path = path[3:]
    if path in (".", ".."):
        return ""
    return path[1:] if path.startswith("/") else path


def is_inside(base: str, target: str) -> bool:
    """Whether ``target`` (a cleaned join onto ``base``) stays within ``base``."""
    relative = os.path.relpath(target, base)
    return relative == "." or relative == strip_path_shortcuts(relative)


def os_error_text(op: str, exc: OSError) -> str:
    """An OSError as Go's ``*PathError`` reads: ``open /x: is a directory``."""
    reason = exc.strerror or str(exc)
    return f"{op} {exc.filename}: {reason[:1].lower()}{reason[1:]}"


# ---- the container's side ----

@dataclass
class Remote:
    """One container, reached through the apiserver's exec."""

    ctx: Context
    pod: str
    namespace: str
    container: str

    async def run(self, command: list[str], *, stdout: pods.Sink, stderr: pods.Sink | None = None,
                  stdin: AsyncIterable[bytes] | None = None) -> int:
        """Run ``command`` there (its stderr to ours unless said otherwise); returns the exit code."""
        return await pods.exec(self.ctx.client, self.pod, command, namespace=self.namespace,
                               container=self.container, stdin=stdin, stdout=stdout,
                               stderr=stderr or (lambda data: write_bytes(self.ctx.err, data)))

    async def is_dir(self, path: str) -> bool:
        """kubectl's checkDestinationIsDir: ``test -d PATH``, output dropped."""
        return await self.run(["test", "-d", path], stdout=_discard, stderr=_discard) == 0


def _discard(data: bytes) -> None:
    del data


async def connect(ctx: Context, spec: FileSpec) -> Remote:
    """The pod of ``spec`` and the container to use (the default one is announced as exec does)."""
    namespace = spec.namespace or ctx.namespace
    pod = await ctx.client.get(core_pb2.Pod, spec.pod, namespace=namespace)
    return Remote(ctx, spec.pod, namespace, ctx.args.container or default_container(ctx, pod))


def command_failed(ctx: Context, code: int) -> int:
    """The end of a tar that failed in the container, as ``skiffctl exec`` reports it."""
    ctx.warn(f"command terminated with exit code {code}")
    if code in (126, 127):
        ctx.warn(TAR_NOTE)
    return code


# ---- local → container ----

def remote_destination(src: str, dest: str, dest_is_dir: bool) -> str:
    """Where the source lands: inside an existing directory under its own name, else at DEST."""
    return join(dest, basename(clean(src))) if dest_is_dir else dest


def untar_command(dest: str, no_preserve: bool) -> list[str]:
    """The container's extracting tar for an archive whose one top entry is ``basename(dest)``."""
    command = ["tar", "--no-same-permissions", "--no-same-owner", "-xmf", "-"] if no_preserve else ["tar", "-xmf", "-"]
    return [*command, "-C", dirname(dest)]


class Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


def write_tar(src: str, dest: str, out: Writable) -> None:
    """The archive of local ``src`` with its top entry renamed to ``basename(dest)`` (kubectl's makeTar)."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT,  # type: ignore[call-overload]
                      bufsize=CHUNK) as archive:
        _add(archive, clean(src), basename(clean(dest)))


def _add(archive: tarfile.TarFile, path: str, name: str) -> None:
    """One local path under ``name``: a directory by its entries (its own header only when empty)."""
    if stat.S_ISDIR(os.lstat(path).st_mode):
        children = sorted(os.listdir(path))
        if not children:
            _add_header(archive, path, name)
        for child in children:
            _add(archive, os.path.join(path, child), f"{name}/{child}")
        return
    _add_header(archive, path, name)


def _add_header(archive: tarfile.TarFile, path: str, name: str) -> None:
    info = archive.gettarinfo(path, arcname=name)
    if info is None:  # a socket: tar has no such entry
        return
    info.mtime = int(info.mtime)  # a float would add a pax record to every entry; tar -m ignores it anyway
    if not info.isreg():
        archive.addfile(info)
        return
    with open(path, "rb") as data:
        archive.addfile(info, data)


class Outbox:
    """The local archive, handed from the thread that builds it to the exec's stdin: ``write``
    waits while a few chunks are queued, and fails once the exec is over (``close``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=8)
        self.closed = False

    def write(self, data: bytes) -> int:
        """(Thread side.) One chunk of the archive; BrokenPipeError when nobody reads any more."""
        if self.closed:
            raise BrokenPipeError("the container's tar has ended")
        if data:
            asyncio.run_coroutine_threadsafe(self._queue.put(bytes(data)), self._loop).result()
        return len(data)

    def finish(self) -> None:
        """(Thread side.) The end of the archive."""
        if not self.closed:
            asyncio.run_coroutine_threadsafe(self._queue.put(b""), self._loop).result()

    async def chunks(self) -> AsyncIterator[bytes]:
        while data := await self._queue.get():
            yield data

    def close(self) -> None:
        """(Loop side.) The exec is over: a put still waiting goes through, later writes fail, and
        a reader still waiting sees the end."""
        self.closed = True
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(b"")


def _produce_tar(src: str, dest: str, out: Outbox) -> OSError | None:
    """(A thread.) :func:`write_tar` into ``out``; a closed outbox (the container's tar has ended
    early, and says why) is no error of this side."""
    try:
        write_tar(src, dest, out)
    except BrokenPipeError:
        return None
    except OSError as exc:
        return exc
    finally:
        out.finish()
    return None


async def copy_to_pod(ctx: Context, src: FileSpec, dest: FileSpec) -> int:
    if not os.path.exists(src.path):
        raise UsageError(f"error: {src.path} doesn't exist in local filesystem")
    remote = await connect(ctx, dest)
    target = remote_destination(src.path, dest.path, await remote.is_dir(dest.path))
    outbox = Outbox(asyncio.get_running_loop())
    producing = asyncio.ensure_future(asyncio.to_thread(_produce_tar, src.path, target, outbox))
    try:
        code = await remote.run(untar_command(target, ctx.args.no_preserve), stdin=outbox.chunks(),
                                stdout=lambda data: write_bytes(ctx.out, data))
    finally:
        outbox.close()
        failure = await producing
    if failure is not None:
        raise CopyError(os_error_text("open", failure))
    return command_failed(ctx, code) if code else 0


# ---- container → local ----

def archive_prefix(src: str) -> str:
    """What every member name starts with: SRC as tar names it (kubectl's copyFromPod prefix)."""
    return strip_path_shortcuts(clean(src.lstrip("/\\")))


class _Abandoned(Exception):
    """The untarring thread has given up; the exec's output has nowhere to go."""


class Inbox:
    """The container's tar stream, handed from the event loop (the exec's stdout) to the thread
    that untars it: ``feed`` never blocks, ``read`` blocks until data or the end."""

    def __init__(self) -> None:
        self._chunks: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._buffer = bytearray()
        self._ended = False
        self.received = 0
        self.abandoned = False

    def feed(self, data: bytes) -> None:
        if self.abandoned:
            raise _Abandoned
        self.received += len(data)
        self._chunks.put(data)

    def close(self) -> None:
        self._chunks.put(None)

    def _fill(self, size: int) -> None:
        while not self._ended and (size < 0 or len(self._buffer) < size):
            chunk = self._chunks.get()
            if chunk is None:
                self._ended = True
            else:
                self._buffer += chunk

    def peek(self, size: int) -> bytes:
        self._fill(size)
        return bytes(self._buffer[:size])

    def read(self, size: int = -1) -> bytes:
        self._fill(size)
        taken = bytes(self._buffer if size < 0 else self._buffer[:size])
        del self._buffer[:len(taken)]
        return taken


@dataclass
class Untar:
    """Extracts the container's archive of ``src`` to local ``dest``, as kubectl's untarAll does."""

    src: str
    dest: str
    warn: Warn
    symlink_hint: str = ""
    """The ``exec ... | tar xf -`` command suggested with the first skipped symlink."""
    written: set[str] = field(default_factory=set)
    _stripped_warned: bool = False

    def run(self, stream: Inbox) -> None:
        head = stream.peek(tarfile.BLOCKSIZE)
        if len(head) < tarfile.BLOCKSIZE or not any(head):
            return  # no entries at all (tar found nothing to archive)
        with tarfile.open(fileobj=stream, mode="r|") as archive:  # type: ignore[call-overload]  # read() is all it uses
            for member in archive:
                self._extract(archive, member)

    def local_path(self, name: str) -> str:
        """Where a member lands: its name past the source prefix, joined onto DEST."""
        if name.startswith("/") and not self._stripped_warned:
            self.warn(LEADING_SLASH_WARNING)
            self._stripped_warned = True
        path = self._mapped(name)
        if path is None:
            raise CopyError("tar contents corrupted")
        return path

    def _mapped(self, name: str) -> str | None:
        """``name`` (leading ``/`` and ``./`` dropped) past the prefix onto DEST; None outside SRC."""
        name = name.lstrip("/")
        while name.startswith("./"):
            name = name[2:]
        prefix = archive_prefix(self.src)
        if prefix and name != prefix and not name.startswith(prefix + "/"):
            return None
        return join(self.dest, strip_trailing_slash(name[len(prefix):]))

    def _extract(self, archive: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        path = self.local_path(member.name)
        if not is_inside(self.dest, path):
            self.warn(f"warning: file {go_quote(path)} is outside target destination, skipping")
            return
        _make_dirs(dirname(path))
        if member.isdir():
            _make_dirs(path)
        elif member.issym():
            self._skip_symlink(path, member.linkname)
        elif member.islnk():
            self._hard_link(path, member.linkname)
        else:
            _write_file(path, archive.extractfile(member) if member.isreg() else None)
            self.written.add(path)

    def _skip_symlink(self, path: str, target: str) -> None:
        hint = f' (consider using "{self.symlink_hint}")' if self.symlink_hint else ""
        self.symlink_hint = ""
        self.warn(f"warning: skipping symlink: {go_quote(path)} -> {go_quote(target)}{hint}")

    def _hard_link(self, path: str, target_name: str) -> None:
        target = self._mapped(target_name)
        if target is None or target not in self.written:
            self.warn(f"warning: skipping hard link: {go_quote(path)} -> {go_quote(target_name)}")
            return
        try:
            shutil.copyfile(target, path)
        except OSError as exc:
            raise CopyError(os_error_text("open", exc)) from None
        self.written.add(path)


def _make_dirs(path: str) -> None:
    try:
        os.makedirs(path, 0o755, exist_ok=True)
    except OSError as exc:
        raise CopyError(os_error_text("mkdir", exc)) from None


def _write_file(path: str, data: IO[bytes] | None) -> None:
    """Go's ``os.Create`` and a copy: an existing file is truncated, a directory is an error."""
    try:
        with open(path, "wb") as out:
            if data is not None:
                shutil.copyfileobj(data, out)
    except OSError as exc:
        raise CopyError(os_error_text("open", exc)) from None


def _untar_thread(untar: Untar, stream: Inbox) -> Exception | None:
    """Run in a thread: the failure, if any (the stream is marked abandoned so the exec stops)."""
    try:
        untar.run(stream)
    except (CopyError, tarfile.TarError, OSError) as exc:
        stream.abandoned = True
        return exc
    return None


def tar_command(src: str, offset: int, resumable: bool) -> list[str]:
    """The container's archiving tar (through ``tail`` from byte ``offset`` when resumable)."""
    if not resumable:
        return ["tar", "cf", "-", src]
    return ["sh", "-c", f"tar cf - {shlex.quote(src)} | tail -c+{offset + 1}"]


async def _stream_tar(ctx: Context, remote: Remote, src: str, inbox: Inbox) -> int:
    """The exec of the container's tar into ``inbox``, resumed after a broken stream per --retries."""
    max_tries: int = ctx.args.retries
    retries = 0
    while True:
        try:
            return await remote.run(tar_command(src, inbox.received, max_tries != 0), stdout=inbox.feed)
        except (errors.ServiceUnavailable, errors.InternalError):
            if 0 <= max_tries <= retries:
                if max_tries:
                    ctx.print(f"Dropping out copy after {retries} retries")
                raise
            retries += 1
            ctx.print(f"Resuming copy at {inbox.received} bytes, retry {retries}/{max_tries}")


async def copy_from_pod(ctx: Context, src: FileSpec, dest: FileSpec) -> int:
    remote = await connect(ctx, src)
    hint = (f"skiffctl exec -n {go_quote(remote.namespace)} {go_quote(remote.pod)} -- "
            f"tar cf - {go_quote(src.path)} | tar xf -")
    untar = Untar(src.path, dest.path, ctx.warn, symlink_hint=hint)
    inbox = Inbox()
    untarring = asyncio.ensure_future(asyncio.to_thread(_untar_thread, untar, inbox))
    code: int | None = None
    try:
        code = await _stream_tar(ctx, remote, src.path, inbox)
    except _Abandoned:
        pass
    finally:
        inbox.close()
        failure = await untarring
    if code:
        return command_failed(ctx, code)
    if isinstance(failure, CopyError):
        raise failure
    if failure is not None:
        raise CopyError(str(failure))
    return 0


# ---- the verb ----

async def run_cp(ctx: Context) -> int:
    specs: list[str] = ctx.args.specs
    if len(specs) != 2:
        raise UsageError("error: source and destination are required")
    src, dest = parse_file_spec(specs[0]), parse_file_spec(specs[1])
    if src.remote and dest.remote:
        raise UsageError("error: one of src or dest must be a local file specification")
    if not src.path or not dest.path:
        raise UsageError("error: filepath can not be empty")
    if not src.remote and not dest.remote:
        raise UsageError("error: one of src or dest must be a remote file specification")
    try:
        return await (copy_from_pod(ctx, src, dest) if src.remote else copy_to_pod(ctx, src, dest))
    except CopyError as exc:
        raise UsageError(f"error: {exc}") from None


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``cp`` to skiffctl."""
    p = sub.add_parser("cp", help="copy files and directories to and from containers",
                       description="Copy files and directories to and from containers.",
                       usage="skiffctl cp <file-spec-src> <file-spec-dest> [options]",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("specs", nargs="*", metavar="FILE-SPEC", help="[[NAMESPACE/]POD:]PATH, or a local PATH")
    p.add_argument("-c", "--container", default="",
                   help="the container (default: the kubectl.kubernetes.io/default-container annotation, else the "
                        "pod's first)")
    p.add_argument("--no-preserve", action="store_true",
                   help="the copied file/directory's ownership and permissions will not be preserved in the container")
    p.add_argument("--retries", type=int, default=0,
                   help="retries to complete a copy from a container (0: none, negative: without end)")
    p.set_defaults(run=run_cp)

